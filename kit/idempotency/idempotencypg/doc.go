// Package idempotencypg stores kit/idempotency's keys in PostgreSQL: it claims a call's
// key, stores its result for retries to replay, leases keys held across calls outside the
// database, and prunes expired keys. The semantics (scoping, replay, REQUEST_ID_REUSED,
// REQUEST_IN_PROGRESS, expiry) are described in package idempotency, which holds the
// plain types (Key, Fingerprint, CheckRequestID, the errors, Lease) that domain packages
// use; this package is used only by storage packages (<svc>pg) and composition roots
// (<svc>app).
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
//	keys := idempotencypg.New(idempotencypg.Options{Now: clock.Now}) // one per store
//
//	k := idempotency.Key{Method: "CreateBill", Subject: c.Subject, RequestID: requestID,
//		Hash: idempotency.Fingerprint(customerID, currency)}
//	var b billing.Bill
//	err := runner.Run(ctx, func(tx *txn.Tx) error {
//		id, replayed, err := idempotencypg.Do(ctx, keys, tx, k, func() (string, error) {
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
// A domain that drives these steps itself (payment's) must not hold a *Claim, which
// belongs to the storage: its store returns c.Lease(), an idempotency.Lease the domain
// keeps across the call, and turns the Lease it gets back into the claim with
// keys.Resume(l) to complete, abandon or resolve the key. The lease's lock id travels
// with it, so a resumed claim whose attempt was taken over changes nothing.
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
//	const DefaultPruneInterval
//	type Querier interface{ Exec(…); QueryRow(…) } // pgx.Tx, *txn.Tx, *pgxpool.Pool
//	type Options struct{ TTL, Lease time.Duration; Now func() time.Time }
//	func New(opts Options) *Keys
//	type Claim struct{ Replayed bool; Result []byte; Pending, Recovered bool; Memo []byte }
//	func (ks *Keys) Begin(ctx, q Querier, k idempotency.Key) (*Claim, error)
//	func (ks *Keys) BeginWith(ctx, q Querier, k idempotency.Key, result []byte) (*Claim, error)
//	func (ks *Keys) Queue(b *pgx.Batch, k idempotency.Key) Queued
//	func (ks *Keys) QueueWith(b *pgx.Batch, k idempotency.Key, result []byte) Queued
//	func (qd Queued) Read(br pgx.BatchResults) (*Claim, error)
//	func (c *Claim) Complete(ctx, q Querier, result []byte) error
//	func (c *Claim) CompletePending(ctx, q Querier, result []byte) error
//	func (c *Claim) QueueComplete(b *pgx.Batch, result []byte) error
//	func Do[T any](ctx, ks *Keys, q Querier, k idempotency.Key, fn func() (T, error)) (T, bool, error)
//	func (ks *Keys) Acquire(ctx, db Querier, k idempotency.Key, memo []byte) (*Claim, error)
//	func (c *Claim) Abandon(ctx, db Querier) error
//	func (c *Claim) Resolve(ctx, db Querier, result []byte) error
//	func (c *Claim) Lease() idempotency.Lease
//	func (ks *Keys) Resume(l idempotency.Lease) *Claim
//	func (ks *Keys) Lookup(ctx, q Querier, k idempotency.Key) (result []byte, found bool, err error)
//	func (ks *Keys) Prune(ctx, db Querier) (int64, error)
//	func (ks *Keys) PruneEvery(ctx, db Querier, interval time.Duration, log *slog.Logger)
package idempotencypg
