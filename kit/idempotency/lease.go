package idempotency

import "log/slog"

// Lease is a leased claim (idempotencypg's Keys.Acquire) as a plain value, for a domain
// that holds its key across a call outside the database (a payment processor's) without
// depending on the storage: its store returns a Lease when it acquires the key, and takes
// it back to complete, abandon or resolve the key (idempotencypg's Claim.Lease and
// Keys.Resume). Copies of a Lease are the same hold on the key.
type Lease struct {
	// Key is the key claimed.
	Key Key
	// Replayed is true when an earlier call with the key completed: Result is its
	// result, and the caller answers with it without changing anything.
	Replayed bool
	// Result is the stored result of a replayed key, as the first call encoded it.
	Result []byte
	// Pending is true when the replayed Result shows an outcome that was not known yet;
	// the caller may find the outcome out and store it (resolve the key).
	Pending bool
	// Recovered is true when this attempt took over a key whose earlier attempt ran out
	// of lease: that attempt may have had effects outside the database, which this one
	// must find out before acting.
	Recovered bool
	// Memo is what the first attempt stored with the key, for a replay or a take-over to
	// continue with.
	Memo []byte
	// Lock identifies this attempt's hold on an in-flight key (empty for a replayed or
	// keyless claim). The store completes or abandons the key only while the attempt
	// still holds it; callers pass it back unchanged.
	Lock string
}

// LogValue describes the lease's key for logs, without its hash, result or lock.
func (l Lease) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", l.Key.Method), slog.String("subject", l.Key.Subject),
		slog.String("request_id", l.Key.RequestID), slog.Bool("replayed", l.Replayed), slog.Bool("recovered", l.Recovered))
}
