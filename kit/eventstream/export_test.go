package eventstream

// Subscribers returns how many subscribers are in r's fan-out, for tests.
func Subscribers(r *Reader) int { return r.subscribers() }
