// Package idempotency is Waybill's one idempotency mechanism: every retriable mutation
// of every service claims its key here, so that a retry with the same request id answers
// with the first call's result instead of changing anything again.
//
// # Semantics
//
// A key (Key) is scoped: the method plus the caller's subject, so two callers' equal
// request ids never meet. It carries a digest of the call's parameters (Fingerprint).
// The first call with a key runs and stores its result, encoded by the domain that owns
// it (the transport's bytes never reach this table unless the domain chose them). Then:
//
//   - a retry with the same parameters replays the stored result without running;
//   - the same request id with other parameters is INVALID_ARGUMENT on field request_id,
//     reason REQUEST_ID_REUSED;
//   - a retry while the first call runs is ABORTED, reason REQUEST_IN_PROGRESS, at once
//     (nothing waits for the first call);
//   - after Options.TTL (24 hours) a key is expired: a call with it runs again, and
//     Prune deletes it.
//
// # In the mutation's transaction (database-only mutations)
//
// A change that touches only the database claims its key in its own transaction and
// stores the result in that transaction, so a rolled-back change leaves no key and a
// committed one always has its result. The claim takes a transaction-scoped advisory lock
// on the key with pg_try_advisory_xact_lock, which never waits: a transaction that finds
// it taken answers REQUEST_IN_PROGRESS. A fresh key costs one statement to claim and one to
// complete (BeginWith, for a result known beforehand, does both in one), and both can be
// queued into the pipelined batches the transaction sends anyway (Queue, QueueWith,
// QueueComplete), so they need no round trip of their own.
//
//	keys := idempotency.New(idempotency.Options{Now: clock.Now}) // one per store
//
//	k := idempotency.Key{Method: "CreateBill", Subject: c.Subject, RequestID: requestID,
//		Hash: idempotency.Fingerprint(customerID, currency)}
//	var b billing.Bill
//	err := runner.Run(ctx, func(tx *txn.Tx) error {
//		id, replayed, err := idempotency.Do(ctx, keys, tx, k, func() (string, error) {
//			return newBill.ID, insertBill(ctx, tx, newBill) // the change; its result is the id
//		})
//		if err != nil {
//			return err
//		}
//		if replayed {
//			b, err = loadBill(ctx, tx, id) // answer as the first call did
//			return err
//		}
//		b = newBill
//		return nil
//	})
//
// A pipelined transaction (booking's seat hold) queues the claim in the batch it sends
// anyway; a result known before the change (the new reservation's id) is stored by the
// claim's own statement:
//
//	b := &pgx.Batch{}
//	b.Queue(lockDepartureSQL, …)              // the row locks the change takes anyway
//	claim := keys.QueueWith(b, k, []byte(r.ID)) // then the claim, before the change
//	b.Queue(insertReservationSQL, args...)
//	b.Queue(holdSeatsSQL, …)
//	br := tx.SendBatch(ctx, b)
//	c, err := claim.Read(br)
//	… // on an error or c.Replayed, return an error from the transaction so that the
//	  // batch's other statements roll back, and answer with c.Result outside it
//
// A key completed by another transaction between this one's look and its write (a
// narrow race at the lock) fails with ABORTED and reason CONFLICT, the reason the
// transaction helpers retry on: the retry replays.
//
// Where the change locks rows anyway (SELECT … FOR UPDATE of the aggregate, or a lock on
// the natural key a create will insert), claim after those locks, in the same batch: a
// retry racing the first call then waits on the row lock and replays the committed result
// instead of answering REQUEST_IN_PROGRESS, and a unique violation can no longer be met
// between the look and the write (booking's holds and fare's rate cards do this).
//
// # With a lease (calls with effects outside the database)
//
// A call that must not run twice outside the database (a payment processor's capture)
// cannot hold a transaction open around it. It acquires the key in a statement of its
// own, with a lease and a lock id, before the call (Acquire), and stores the result in
// the transaction that records the outcome (Complete, or CompletePending when the outcome
// is not known yet and a retry must find it out). An attempt that finds the key in flight
// past its lease takes it over (Claim.Recovered, with the first attempt's Memo) and must
// ask the outside system what the first attempt did before acting. Abandon gives a key
// up: a fresh one is deleted, a taken-over one keeps its memo and its lease ends at once.
//
//	c, err := keys.Acquire(ctx, pool, k, memo) // memo: the ids this attempt will use
//	if err != nil || c.Replayed { … }          // answer with the error, or with c.Result
//	res, err := processor.Capture(ctx, …)      // if c.Recovered: look the operation up first
//	if err != nil { c.Abandon(ctx, pool); return err }
//	err = runner.Run(ctx, func(tx *txn.Tx) error {
//		… record res …
//		return c.Complete(ctx, tx, encode(res))
//	})
//
// # Table
//
// Migrations holds the idempotency_keys table (file 0300_idempotency.sql), to be merged
// with the service's own migrations; keys live in each service's schema, and are read
// and written only through this package. The statements name the table unqualified:
// the connection's search_path must resolve it (pgxutil.PoolConfig.Schema does so).
//
// # API
//
//	var Migrations fs.FS
//	const DefaultTTL, DefaultLease; const MaxRequestID = 128
//	const ReasonRequestIDReused, ReasonRequestInProgress; var ErrRequestIDReused, ErrRequestInProgress error
//	type Querier interface{ Exec(…); QueryRow(…) } // pgx.Tx, *txn.Tx, *pgxpool.Pool
//	type Key struct{ Method, Subject, RequestID string; Hash []byte }
//	func Fingerprint(parts ...string) []byte
//	func CheckRequestID(id string, required bool) error
//	type Options struct{ TTL, Lease time.Duration; Now func() time.Time }
//	func New(opts Options) *Keys
//	type Claim struct{ Replayed bool; Result []byte; Pending, Recovered bool; Memo []byte }
//	func (ks *Keys) Begin(ctx, q Querier, k Key) (*Claim, error)
//	func (ks *Keys) BeginWith(ctx, q Querier, k Key, result []byte) (*Claim, error)
//	func (ks *Keys) Queue(b *pgx.Batch, k Key) Queued
//	func (ks *Keys) QueueWith(b *pgx.Batch, k Key, result []byte) Queued
//	func (qd Queued) Read(br pgx.BatchResults) (*Claim, error)
//	func (c *Claim) Complete(ctx, q Querier, result []byte) error
//	func (c *Claim) CompletePending(ctx, q Querier, result []byte) error
//	func (c *Claim) QueueComplete(b *pgx.Batch, result []byte) error
//	func Do[T any](ctx, ks *Keys, q Querier, k Key, fn func() (T, error)) (T, bool, error)
//	func (ks *Keys) Acquire(ctx, db Querier, k Key, memo []byte) (*Claim, error)
//	func (c *Claim) Abandon(ctx, db Querier) error
//	func (c *Claim) Resolve(ctx, db Querier, result []byte) error
//	func (ks *Keys) Lookup(ctx, q Querier, k Key) (result []byte, found bool, err error)
//	func (ks *Keys) Prune(ctx, db Querier) (int64, error)
package idempotency
