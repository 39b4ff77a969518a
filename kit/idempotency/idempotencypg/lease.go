package idempotencypg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgxutil"
)

// acquireSQL inserts a key in flight, or replaces an expired one ($8: created at or
// before), and returns a row only when this call now holds the key.
const acquireSQL = `INSERT INTO idempotency_keys AS k
    (method, subject, request_id, request_hash, completed, lock_id, locked_at, memo, create_time)
VALUES ($1, $2, $3, $4, false, $5, $6, $7, $6)
ON CONFLICT (method, subject, request_id) DO UPDATE SET
    request_hash = excluded.request_hash, completed = false, lock_id = excluded.lock_id,
    locked_at = excluded.locked_at, memo = excluded.memo, result = NULL, result_pending = false,
    create_time = excluded.create_time, complete_time = NULL
WHERE k.create_time <= $8
RETURNING true`

const readLeaseSQL = `SELECT request_hash, completed, result, result_pending, memo,
    coalesce(lock_id::text, ''), coalesce(locked_at, 'epoch')
FROM idempotency_keys WHERE method = $1 AND subject = $2 AND request_id = $3`

// takeOverSQL moves an in-flight key from lock $4 to lock $5 at $6.
const takeOverSQL = `UPDATE idempotency_keys SET lock_id = $5, locked_at = $6
WHERE method = $1 AND subject = $2 AND request_id = $3 AND lock_id = $4 AND NOT completed`

// completeLeaseSQL stores the result ($5, pending $6, at $7) of an in-flight key still
// held by lock $4.
const completeLeaseSQL = `UPDATE idempotency_keys
SET completed = true, result = $5, result_pending = $6, complete_time = $7
WHERE method = $1 AND subject = $2 AND request_id = $3 AND lock_id = $4 AND NOT completed`

const deleteLeaseSQL = `DELETE FROM idempotency_keys
WHERE method = $1 AND subject = $2 AND request_id = $3 AND lock_id = $4 AND NOT completed`

const expireLeaseSQL = `UPDATE idempotency_keys SET locked_at = 'epoch'
WHERE method = $1 AND subject = $2 AND request_id = $3 AND lock_id = $4 AND NOT completed`

const resolveSQL = `UPDATE idempotency_keys SET result = $4, result_pending = false
WHERE method = $1 AND subject = $2 AND request_id = $3 AND completed AND result_pending`

// abandonTimeout bounds Abandon, which runs even after the caller's context ended.
const abandonTimeout = 15 * time.Second

// Acquire claims k with a lease, for a call with effects outside the database (a payment
// processor's): the key is stored in flight by a statement of its own on db (the pool),
// before the call, so that a concurrent or later attempt finds it. It returns
//
//   - a fresh claim, holding the key for Options.Lease: make the call, then Complete (or
//     CompletePending) in the transaction that records its outcome, or Abandon;
//   - a Replayed claim when a call with k completed: answer with its Result (and, when
//     Pending, find out the outcome and Resolve);
//   - a Recovered claim when the attempt holding k ran out of lease (it crashed, or hung):
//     this attempt holds the key now, with the first attempt's Memo, and must find out
//     what that attempt did outside the database before doing it again;
//   - INVALID_ARGUMENT, REQUEST_ID_REUSED, for a key used with other parameters, and
//     ABORTED, REQUEST_IN_PROGRESS, while another attempt holds the key's lease.
//
// memo is stored with a fresh key: what the first attempt chose (the ids it will use at
// the processor), returned as Claim.Memo to a take-over and to replays. An expired key is
// claimed afresh. A key with an empty RequestID claims nothing.
func (ks *Keys) Acquire(ctx context.Context, db Querier, k idempotency.Key, memo []byte) (*Claim, error) {
	if keyless(k) {
		return &Claim{ks: ks, key: k, Memo: memo}, nil
	}
	if err := check(k); err != nil {
		return nil, err
	}
	for range 3 {
		now := ks.now()
		lock := ids.New()
		var inserted bool
		err := db.QueryRow(ctx, acquireSQL, k.Method, k.Subject, k.RequestID, nonNil(k.Hash), lock, now, memo,
			now.Add(-ks.opts.TTL)).Scan(&inserted)
		if err == nil {
			return &Claim{Memo: memo, ks: ks, key: k, mode: modeLease, lockID: lock}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("acquire idempotency key: %w", pgxutil.MapError(err))
		}
		var s stored
		var holder string
		var lockedAt time.Time
		err = db.QueryRow(ctx, readLeaseSQL, k.Method, k.Subject, k.RequestID).
			Scan(&s.hash, &s.completed, &s.result, &s.pending, &s.memo, &holder, &lockedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // deleted (abandoned or pruned) in between: insert again
		}
		if err != nil {
			return nil, fmt.Errorf("read idempotency key: %w", pgxutil.MapError(err))
		}
		switch {
		case !s.sameHash(k):
			return nil, errReused()
		case *s.completed:
			return s.replay(ks, k), nil
		case lockedAt.After(now.Add(-ks.opts.Lease)):
			return nil, errInProgress()
		}
		tag, err := db.Exec(ctx, takeOverSQL, k.Method, k.Subject, k.RequestID, holder, lock, now)
		if err != nil {
			return nil, fmt.Errorf("take over idempotency key: %w", pgxutil.MapError(err))
		}
		if tag.RowsAffected() != 1 {
			return nil, errInProgress() // another attempt took it over first
		}
		return &Claim{Recovered: true, Memo: s.memo, ks: ks, key: k, mode: modeLease, lockID: lock}, nil
	}
	return nil, errInProgress()
}

// Abandon gives up a leased claim without storing a result, on db (the pool), so that a
// retry runs the call: a fresh key is deleted; a taken-over key (Recovered) is kept with
// its Memo, since its first attempt may have had effects, and its lease ends at once, so
// the next attempt takes it over. Abandon runs even when ctx was cancelled (the request's
// end is a common reason to abandon), bounded by 15 seconds; it does nothing for a claim
// that is not leased or was completed. It returns the database's error, which the caller
// may only log: the key's lease then runs out on its own.
func (c *Claim) Abandon(ctx context.Context, db Querier) error {
	if c.mode != modeLease || c.done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	sql := deleteLeaseSQL
	if c.Recovered {
		sql = expireLeaseSQL
	}
	k := c.key
	if _, err := db.Exec(ctx, sql, k.Method, k.Subject, k.RequestID, c.lockID); err != nil {
		return fmt.Errorf("abandon idempotency key: %w", pgxutil.MapError(err))
	}
	c.done = true
	return nil
}

// Resolve replaces the pending result of a replayed key (Claim.Pending) by result, once
// the outcome is known, so that later retries replay it. It does nothing when the key's
// result is no longer pending.
func (c *Claim) Resolve(ctx context.Context, db Querier, result []byte) error {
	if c.mode != modeReplay || !c.Pending {
		return fmt.Errorf("resolve idempotency key %s %q: the claim holds no pending result", c.key.Method, c.key.RequestID)
	}
	k := c.key
	if _, err := db.Exec(ctx, resolveSQL, k.Method, k.Subject, k.RequestID, nonNil(result)); err != nil {
		return fmt.Errorf("resolve idempotency key: %w", pgxutil.MapError(err))
	}
	c.Result, c.Pending = result, false
	return nil
}

// Lease returns the claim as a plain value, for a domain that holds its key across a call
// outside the database and must not depend on this package: its store hands the Lease out
// and takes it back, turning it into the claim again with Keys.Resume. Only the outcomes
// of Acquire survive the trip: a claim of Begin, Queue or their With forms does not (its
// Resume completes nothing).
func (c *Claim) Lease() idempotency.Lease {
	return idempotency.Lease{Key: c.key, Replayed: c.Replayed, Result: c.Result, Pending: c.Pending,
		Recovered: c.Recovered, Memo: c.Memo, Lock: c.lockID}
}

// Resume returns the claim that l describes (Claim.Lease), on which Complete,
// CompletePending, Abandon and Resolve work as on the claim Acquire returned: a lease
// whose attempt was taken over since completes nothing (ABORTED, REQUEST_IN_PROGRESS)
// and abandons nothing, and a key completed since is not abandoned.
func (ks *Keys) Resume(l idempotency.Lease) *Claim {
	c := &Claim{Replayed: l.Replayed, Result: l.Result, Pending: l.Pending, Recovered: l.Recovered, Memo: l.Memo,
		ks: ks, key: l.Key, lockID: l.Lock}
	switch {
	case keyless(l.Key):
		c.mode = modeKeyless
	case l.Replayed:
		c.mode = modeReplay
	case l.Lock != "":
		c.mode = modeLease
	default:
		c.mode, c.done = modeLease, true // holds no lease: nothing to complete or abandon
	}
	return c
}

// LogValue describes the claim's key for logs, without its hash or result.
func (c *Claim) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", c.key.Method), slog.String("subject", c.key.Subject),
		slog.String("request_id", c.key.RequestID), slog.Bool("replayed", c.Replayed), slog.Bool("recovered", c.Recovered))
}
