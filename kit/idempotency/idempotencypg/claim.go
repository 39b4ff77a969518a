package idempotencypg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// mode is how a claim holds its key.
type mode uint8

const (
	// modeKeyless: the key has no request id; the claim holds nothing.
	modeKeyless mode = iota
	// modeTx: claimed in the mutation's transaction; Complete inserts the key there.
	modeTx
	// modeStored: claimed in the mutation's transaction with its result (BeginWith).
	modeStored
	// modeLease: an in-flight key held under a lease (Acquire).
	modeLease
	// modeReplay: the key was completed before; the claim holds its result.
	modeReplay
)

// Claim is a call's hold on its key, or, when Replayed, the result of the first call
// with it.
type Claim struct {
	// Replayed is true when an earlier call with the key completed: Result is its
	// result, and the caller answers with it without changing anything (in a
	// transaction, it returns without committing a change).
	Replayed bool
	// Result is the stored result of a replayed key, as the first call encoded it.
	Result []byte
	// Pending is true when the replayed Result shows an outcome that was not known yet
	// (CompletePending); the caller may find the outcome and store it (Resolve).
	Pending bool
	// Recovered is true, for a leased key, when this attempt took over a key whose earlier
	// attempt ran out of lease: that attempt may have had effects outside the database.
	Recovered bool
	// Memo is what the first attempt stored with a leased key (Acquire), for a replay or
	// a take-over to continue with.
	Memo []byte

	ks         *Keys
	key        idempotency.Key
	mode       mode
	lockID     string    // modeLease
	createTime time.Time // modeTx: the key's create time, set at Begin
	done       bool      // completed (or abandoned) by this claim
}

// beginSQL looks for key ($1 method, $2 subject, $3 request id) created after $4, and
// tries to take the transaction's advisory lock on it without waiting: a transaction
// that holds it is running a call with the key.
const beginSQL = `SELECT ` + tryLockSQL + `, k.request_hash, k.completed, k.result, k.result_pending, k.memo
FROM (VALUES (1)) AS one (x)
LEFT JOIN idempotency_keys k ON k.method = $1 AND k.subject = $2 AND k.request_id = $3 AND k.create_time > $4`

// tryLockSQL takes the transaction-scoped advisory lock of key $1, $2, $3 in the current
// schema, unless another transaction holds it.
const tryLockSQL = `pg_try_advisory_xact_lock(hashtextextended(
	concat_ws(E'\x1f', 'idempotency_keys', current_schema(), $1::text, $2::text, $3::text), 0))`

// Begin claims k in q, the transaction of the change it guards, with one statement that
// does not wait for other transactions. It returns
//
//   - a fresh claim: run the change, then Complete it with the result in the same
//     transaction (the key is written only then, so a rolled-back change leaves none);
//   - a Replayed claim when a call with k completed before: answer with its Result;
//   - INVALID_ARGUMENT on request_id, reason REQUEST_ID_REUSED, when that call had other
//     parameters (idempotency.ErrRequestIDReused);
//   - ABORTED, reason REQUEST_IN_PROGRESS, when another transaction is running a call with
//     k now (idempotency.ErrRequestInProgress).
//
// An expired key is claimed afresh. Begin takes a transaction-scoped advisory lock on k:
// transactions that claim k wait for nobody, and find each other. A key with an empty
// RequestID claims nothing: the claim is fresh and Complete stores nothing.
func (ks *Keys) Begin(ctx context.Context, q Querier, k idempotency.Key) (*Claim, error) {
	if keyless(k) {
		return &Claim{ks: ks, key: k}, nil
	}
	if err := check(k); err != nil {
		return nil, err
	}
	now := ks.now()
	var locked bool
	var s stored
	err := q.QueryRow(ctx, beginSQL, k.Method, k.Subject, k.RequestID, now.Add(-ks.opts.TTL)).
		Scan(&locked, &s.hash, &s.completed, &s.result, &s.pending, &s.memo)
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", pgxutil.MapError(err))
	}
	return ks.decide(k, locked, false, s, &Claim{ks: ks, key: k, mode: modeTx, createTime: now})
}

// decide turns what a claim statement found into the claim: s is the key's row as the
// statement's snapshot saw it, locked whether the advisory lock was taken, inserted
// whether the statement stored the key (BeginWith).
func (ks *Keys) decide(k idempotency.Key, locked, inserted bool, s stored, fresh *Claim) (*Claim, error) {
	switch {
	case inserted:
		return fresh, nil
	case s.exists():
		if !s.sameHash(k) {
			return nil, errReused()
		}
		if *s.completed {
			return s.replay(ks, k), nil
		}
		// An in-flight leased key: its attempt is running, or will be taken over by an
		// Acquire after its lease.
		return nil, errInProgress()
	case !locked:
		return nil, errInProgress()
	case fresh.mode == modeStored:
		// Locked, yet the insert found a key the snapshot did not show: a call committed
		// it just before the lock was taken.
		return nil, errRaced()
	}
	return fresh, nil
}

// completeSQL stores a completed key: $1 method, $2 subject, $3 request id, $4 replace a
// key created at or before this, $5 hash, $6 result, $7 create time, $8 pending. It
// replaces only an expired key; when a live key exists (another call committed it after
// this transaction looked), it raises a serialization failure, which aborts the
// transaction however the caller reads the statement's result.
const completeSQL = `WITH up AS (
    INSERT INTO idempotency_keys AS k
        (method, subject, request_id, request_hash, completed, result, result_pending, create_time, complete_time)
    VALUES ($1, $2, $3, $5, true, $6, $8, $7, $7)
    ON CONFLICT (method, subject, request_id) DO UPDATE SET
        request_hash = excluded.request_hash, completed = true, lock_id = NULL, locked_at = NULL,
        memo = NULL, result = excluded.result, result_pending = excluded.result_pending,
        create_time = excluded.create_time, complete_time = excluded.complete_time
    WHERE k.create_time <= $4
    RETURNING 1)
SELECT idempotency_keys_raced() WHERE NOT EXISTS (SELECT FROM up)`

// beginWithSQL is beginSQL that also stores the key completed with its result when the
// lock is taken: $5 hash, $6 result, $7 create time.
const beginWithSQL = `WITH lk AS (SELECT ` + tryLockSQL + ` AS locked),
ins AS (
    INSERT INTO idempotency_keys AS k
        (method, subject, request_id, request_hash, completed, result, create_time, complete_time)
    SELECT $1, $2, $3, $5::bytea, true, $6::bytea, $7::timestamptz, $7::timestamptz FROM lk WHERE lk.locked
    ON CONFLICT (method, subject, request_id) DO UPDATE SET
        request_hash = excluded.request_hash, completed = true, lock_id = NULL, locked_at = NULL,
        memo = NULL, result = excluded.result, result_pending = false,
        create_time = excluded.create_time, complete_time = excluded.complete_time
    WHERE k.create_time <= $4
    RETURNING 1)
SELECT lk.locked, EXISTS (SELECT FROM ins), k.request_hash, k.completed, k.result, k.result_pending, k.memo
FROM lk
LEFT JOIN idempotency_keys k ON k.method = $1 AND k.subject = $2 AND k.request_id = $3 AND k.create_time > $4`

// BeginWith is Begin for a call whose result is known before it runs (the id a create
// call chose for its resource): it stores k completed with result in the same statement,
// so the claim needs no Complete, and a fresh key costs one statement in all. The
// outcomes are Begin's; when the claim is not fresh, the caller must not commit its
// change.
func (ks *Keys) BeginWith(ctx context.Context, q Querier, k idempotency.Key, result []byte) (*Claim, error) {
	if keyless(k) {
		return &Claim{ks: ks, key: k, done: true}, nil
	}
	if err := check(k); err != nil {
		return nil, err
	}
	return ks.readWith(k, q.QueryRow(ctx, beginWithSQL, ks.withArgs(k, result)...))
}

func (ks *Keys) withArgs(k idempotency.Key, result []byte) []any {
	now := ks.now()
	return []any{k.Method, k.Subject, k.RequestID, now.Add(-ks.opts.TTL), nonNil(k.Hash), nonNil(result), now}
}

// readWith reads the row of beginWithSQL.
func (ks *Keys) readWith(k idempotency.Key, row pgx.Row) (*Claim, error) {
	var locked, inserted bool
	var s stored
	if err := row.Scan(&locked, &inserted, &s.hash, &s.completed, &s.result, &s.pending, &s.memo); err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", pgxutil.MapError(err))
	}
	return ks.decide(k, locked, inserted, s, &Claim{ks: ks, key: k, mode: modeStored, done: true})
}

// Queued is a claim queued onto a pgx.Batch (Keys.Queue, Keys.QueueWith), to be read
// from the batch's results.
type Queued struct {
	ks      *Keys
	key     idempotency.Key
	at      time.Time // the claim's time
	with    bool
	keyless bool
	err     error // a malformed key: nothing was queued
}

// Queue queues Begin's statement onto b, for a transaction that sends its statements as
// pipelined batches (kit/txn's Tx does so with BEGIN): the claim then costs no round trip
// of its own. b must run in the transaction of the change. Read the claim with
// Queued.Read at the position Queue added, before the results that follow; when the
// claim is not fresh, the statements queued after it ran anyway, so the caller must not
// commit the transaction (return an error from it and answer with the replay).
func (ks *Keys) Queue(b *pgx.Batch, k idempotency.Key) Queued {
	if keyless(k) {
		return Queued{ks: ks, key: k, keyless: true}
	}
	if err := check(k); err != nil {
		return Queued{err: err}
	}
	now := ks.now()
	b.Queue(beginSQL, k.Method, k.Subject, k.RequestID, now.Add(-ks.opts.TTL))
	return Queued{ks: ks, key: k, at: now}
}

// QueueWith queues BeginWith's statement onto b; see Queue. A fresh key is then stored,
// with its result, by that one statement in the batch.
func (ks *Keys) QueueWith(b *pgx.Batch, k idempotency.Key, result []byte) Queued {
	if keyless(k) {
		return Queued{ks: ks, key: k, with: true, keyless: true}
	}
	if err := check(k); err != nil {
		return Queued{err: err}
	}
	b.Queue(beginWithSQL, ks.withArgs(k, result)...)
	return Queued{ks: ks, key: k, with: true}
}

// Read reads the claim's result from br, the results of the batch it was queued on; it
// must be the next result to read. The outcomes are Begin's (BeginWith's for QueueWith).
// A key with an empty request id, or a malformed one (Read returns its error), queued
// nothing and reads nothing.
func (qd Queued) Read(br pgx.BatchResults) (*Claim, error) {
	if qd.err != nil {
		return nil, qd.err
	}
	if qd.keyless {
		return &Claim{ks: qd.ks, key: qd.key, done: qd.with}, nil
	}
	if qd.with {
		return qd.ks.readWith(qd.key, br.QueryRow())
	}
	var locked bool
	var s stored
	err := br.QueryRow().Scan(&locked, &s.hash, &s.completed, &s.result, &s.pending, &s.memo)
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", pgxutil.MapError(err))
	}
	return qd.ks.decide(qd.key, locked, false, s, &Claim{ks: qd.ks, key: qd.key, mode: modeTx, createTime: qd.at})
}

// ReadAfter reads a whole batch that holds the claim: first reads the results queued
// before it (the row locks the change takes first, and what else they return), then the
// claim is read; br is closed, and the first error of the three is returned. It is the
// usual shape of a write that locks, claims and changes in one round trip.
func (qd Queued) ReadAfter(br pgx.BatchResults, first func(pgx.BatchResults) error) (*Claim, error) {
	err := first(br)
	var c *Claim
	if err == nil {
		c, err = qd.Read(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return c, err
}

// Complete stores result as the key's result, in q, for retries to replay:
//
//   - for a claim of Begin, q is the change's transaction; when another call with the key
//     committed first (a narrow race at the lock), the statement fails with a
//     serialization failure (ABORTED, reason CONFLICT, once mapped), which aborts the
//     transaction and makes the transaction helpers run it again: the retry replays;
//   - for a leased claim (Acquire), q is the transaction that records the outcome, or the
//     pool (for an error stored as the result); when the key was taken over by another
//     attempt, it returns ABORTED, REQUEST_IN_PROGRESS, and the caller must not commit.
//
// A keyless claim stores nothing. Completing a replayed, completed or BeginWith claim is a
// programming mistake and returns an error.
func (c *Claim) Complete(ctx context.Context, q Querier, result []byte) error {
	return c.complete(ctx, q, result, false)
}

// CompletePending is Complete for a result that shows an outcome not known yet (a call
// whose effect outside the database did not answer): a retry gets it as a Replayed claim
// with Pending set, finds out the outcome, and may store it with Resolve.
func (c *Claim) CompletePending(ctx context.Context, q Querier, result []byte) error {
	return c.complete(ctx, q, result, true)
}

func (c *Claim) complete(ctx context.Context, q Querier, result []byte, pending bool) error {
	if err := c.completable(); err != nil || c.mode == modeKeyless {
		return err
	}
	k := c.key
	if c.mode == modeTx {
		if _, err := q.Exec(ctx, completeSQL, c.completeArgs(result, pending)...); err != nil {
			return fmt.Errorf("complete idempotency key: %w", pgxutil.MapError(err))
		}
		c.done = true
		return nil
	}
	tag, err := q.Exec(ctx, completeLeaseSQL, k.Method, k.Subject, k.RequestID, c.lockID, nonNil(result), pending, c.ks.now())
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", pgxutil.MapError(err))
	}
	if tag.RowsAffected() != 1 {
		return errInProgress() // another attempt took the key over
	}
	c.done = true
	return nil
}

// completable reports a claim that holds no key to complete.
func (c *Claim) completable() error {
	if c.mode != modeKeyless && (c.done || c.mode == modeReplay) {
		return fmt.Errorf("complete idempotency key %s %q: the claim holds no key to complete", c.key.Method, c.key.RequestID)
	}
	return nil
}

func (c *Claim) completeArgs(result []byte, pending bool) []any {
	k := c.key
	return []any{k.Method, k.Subject, k.RequestID, c.createTime.Add(-c.ks.opts.TTL), nonNil(k.Hash), nonNil(result),
		c.createTime, pending}
}

// QueueComplete queues Complete's statement for a claim of Begin or Queue onto b, which
// must run in the change's transaction (for example in the batch that carries its
// COMMIT). When another call with the key committed first, the statement fails and
// aborts the transaction, as Complete's does, however b's results are read. A keyless
// claim queues nothing; a claim that is not of Begin or Queue is a programming mistake
// and returns an error.
func (c *Claim) QueueComplete(b *pgx.Batch, result []byte) error {
	if err := c.completable(); err != nil || c.mode == modeKeyless {
		return err
	}
	if c.mode != modeTx {
		return fmt.Errorf("complete idempotency key %s %q: only a claim of Begin or Queue completes in a batch", c.key.Method, c.key.RequestID)
	}
	b.Queue(completeSQL, c.completeArgs(result, false)...)
	c.done = true
	return nil
}

// Do runs fn once per key, in q, the transaction of the change fn makes: it claims k
// (Begin), and for a fresh key runs fn and stores its result, encoded as JSON, in the
// same transaction; for a completed key it returns the first result decoded, with
// replayed true, without running fn. Errors are Begin's and Complete's, and fn's
// unchanged: the caller's transaction rolls back, and no key is left. T is the domain's
// result (an id, a small struct); a type whose JSON form loses information needs Begin
// and Complete with the domain's own encoding. In a *txn.Tx the completion is queued
// into the COMMIT batch (Tx.BeforeCommit), so it costs no round trip of its own.
func Do[T any](ctx context.Context, ks *Keys, q Querier, k idempotency.Key, fn func() (T, error)) (v T, replayed bool, err error) {
	c, err := ks.Begin(ctx, q, k)
	if err != nil {
		return v, false, err
	}
	if c.Replayed {
		if err := json.Unmarshal(c.Result, &v); err != nil {
			return v, false, fmt.Errorf("decode the stored result of %s %q: %w", k.Method, k.RequestID, err)
		}
		return v, true, nil
	}
	if v, err = fn(); err != nil {
		return v, false, err
	}
	if c.mode == modeKeyless {
		return v, false, nil
	}
	body, err := json.Marshal(v)
	if err != nil {
		return v, false, fmt.Errorf("encode the result of %s: %w", k.Method, err)
	}
	if tx, ok := q.(*txn.Tx); ok {
		// The completion rides in the COMMIT batch: no round trip of its own.
		tx.BeforeCommit(func(b *pgx.Batch) error { return c.QueueComplete(b, body) })
		return v, false, nil
	}
	if err := c.Complete(ctx, q, body); err != nil {
		return v, false, err
	}
	return v, false, nil
}
