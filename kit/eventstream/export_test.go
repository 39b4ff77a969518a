package eventstream

// Subscribers returns how many subscribers are in r's fan-out, for tests.
func Subscribers(r *Reader) int { return r.subscribers() }

// LogReads returns how many times r's Run has read the log, for tests.
func LogReads(r *Reader) int64 { return r.reads.Load() }
