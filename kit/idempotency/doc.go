// Package idempotency is Waybill's one idempotency mechanism: every retriable mutation
// of every service claims its key with it, so that a retry with the same request id
// answers with the first call's result instead of changing anything again.
//
// This package holds the mechanism's plain part, which domain packages use: the key of a
// call, the digest of its parameters, the request-id rule, the errors a claim returns
// and the value of a leased claim. It imports nothing but the standard library and
// kit/errs, so a domain that builds keys depends on no database driver. The storage
// (claims, completions, leases, pruning and the idempotency_keys table, on PostgreSQL) is
// package idempotencypg, used by the services' <svc>pg stores and composition roots.
//
// # Semantics
//
// A key (Key) is scoped: the method plus the caller's subject, so two callers' equal
// request ids never meet. It carries a digest of the call's parameters (Fingerprint).
// The first call with a key runs and stores its result, encoded by the domain that owns
// it (the transport's bytes never reach the table unless the domain chose them). Then:
//
//   - a retry with the same parameters replays the stored result without running;
//   - the same request id with other parameters is INVALID_ARGUMENT on field request_id,
//     reason REQUEST_ID_REUSED (ErrRequestIDReused);
//   - a retry while the first call runs is ABORTED, reason REQUEST_IN_PROGRESS
//     (ErrRequestInProgress), at once (nothing waits for the first call);
//   - after DefaultTTL (24 hours, unless the store is configured otherwise) a key is
//     expired: a call with it runs again, and pruning deletes it.
//
// A key with an empty request id claims nothing: the call runs every time.
//
// # In a domain
//
// The domain checks the request id (CheckRequestID), builds the key and passes it to its
// Store, whose implementation claims it in the mutation's transaction:
//
//	if err := idempotency.CheckRequestID(requestID, false); err != nil {
//		return Bill{}, err
//	}
//	k := idempotency.Key{Method: "CreateBill", Subject: c.Subject, RequestID: requestID,
//		Hash: idempotency.Fingerprint(customerID, currency)}
//	b, err := s.store.CreateBill(ctx, newBill, k) // billingpg claims k (idempotencypg.Do)
//
// A call with effects outside the database (a payment processor's) holds its key under
// a lease across that call. Its store acquires the key and returns the claim as a Lease,
// a plain value the domain keeps and hands back to complete, abandon or resolve the key;
// the domain never holds the storage's claim.
//
// # API
//
//	const DefaultTTL, DefaultLease; const MaxRequestID = 128
//	const ReasonRequestIDReused, ReasonRequestInProgress; var ErrRequestIDReused, ErrRequestInProgress error
//	type Key struct{ Method, Subject, RequestID string; Hash []byte }
//	func Fingerprint(parts ...string) []byte
//	func CheckRequestID(id string, required bool) error
//	type Lease struct{ Key Key; Replayed bool; Result []byte; Pending, Recovered bool; Memo []byte; Lock string }
package idempotency
