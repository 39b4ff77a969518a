package paymentpg

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/services/payment/payment"
)

const keyCols = `method, key, request_hash, state = 'completed', lock_id::text, locked_at, create_time,
	resource_id, operation_id, response, response_pending`

func scanKey(row pgx.Row) (payment.Key, error) {
	var k payment.Key
	err := row.Scan(&k.Method, &k.Key, &k.Hash, &k.Completed, &k.LockID, &k.LockedAt, &k.CreateTime,
		&k.ResourceID, &k.OperationID, &k.Response, &k.Pending)
	k.LockedAt, k.CreateTime = k.LockedAt.UTC(), k.CreateTime.UTC()
	return k, mapError(err)
}

// GetKey returns an idempotency key.
func (r reader) GetKey(ctx context.Context, method, key string) (payment.Key, error) {
	return scanKey(r.q.QueryRow(ctx, `SELECT `+keyCols+` FROM idempotency_key WHERE method = $1 AND key = $2`, method, key))
}

// insertKeySQL inserts a key in flight, or replaces one that expired; it returns a row only
// when this call now holds the key.
const insertKeySQL = `
INSERT INTO idempotency_key AS k
    (method, key, request_hash, state, lock_id, locked_at, create_time, resource_id, operation_id)
VALUES ($1, $2, $3, 'in_flight', $4, $5, $6, $7, $8)
ON CONFLICT (method, key) DO UPDATE SET
    request_hash = excluded.request_hash, state = 'in_flight', lock_id = excluded.lock_id,
    locked_at = excluded.locked_at, create_time = excluded.create_time,
    resource_id = excluded.resource_id, operation_id = excluded.operation_id,
    response = NULL, response_pending = false, complete_time = NULL
WHERE k.create_time <= $9
RETURNING true`

// InsertKey inserts k in flight in its own (autocommitted) statement, unless a live key exists,
// which it returns. Concurrent inserts of one key wait for each other on the primary key:
// exactly one gets the row.
func (s *Store) InsertKey(ctx context.Context, k payment.Key, expiredBefore time.Time) (*payment.Key, error) {
	for range 3 {
		var inserted bool
		err := s.pool.QueryRow(ctx, insertKeySQL, k.Method, k.Key, k.Hash, k.LockID, k.LockedAt, k.CreateTime,
			k.ResourceID, k.OperationID, expiredBefore).Scan(&inserted)
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, mapError(err)
		}
		existing, err := s.GetKey(ctx, k.Method, k.Key)
		if errors.Is(err, payment.ErrNotFound) {
			continue // deleted as expired in between: insert again
		}
		if err != nil {
			return nil, err
		}
		return &existing, nil
	}
	return nil, payment.ErrConflict
}

// TakeOverKey moves an in-flight key from oldLock to newLock.
func (s *Store) TakeOverKey(ctx context.Context, method, key, oldLock, newLock string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
UPDATE idempotency_key SET lock_id = $4, locked_at = $5
WHERE method = $1 AND key = $2 AND lock_id = $3 AND state = 'in_flight'`, method, key, oldLock, newLock, now)
	if err != nil {
		return false, mapError(err)
	}
	return tag.RowsAffected() == 1, nil
}

const deleteKeySQL = `DELETE FROM idempotency_key WHERE method = $1 AND key = $2 AND lock_id = $3 AND state = 'in_flight'`

// DeleteKey deletes an in-flight key held by lockID.
func (s *Store) DeleteKey(ctx context.Context, method, key, lockID string) error {
	_, err := s.pool.Exec(ctx, deleteKeySQL, method, key, lockID)
	return mapError(err)
}

// DeleteKey deletes an in-flight key held by lockID.
func (t *tx) DeleteKey(ctx context.Context, method, key, lockID string) error {
	_, err := t.tx.Exec(ctx, deleteKeySQL, method, key, lockID)
	return mapError(err)
}

// ExpireKeyLease ends the lease of an in-flight key held by lockID.
func (s *Store) ExpireKeyLease(ctx context.Context, method, key, lockID string) error {
	_, err := s.pool.Exec(ctx, `
UPDATE idempotency_key SET locked_at = 'epoch'
WHERE method = $1 AND key = $2 AND lock_id = $3 AND state = 'in_flight'`, method, key, lockID)
	return mapError(err)
}

// ResolveKeyResponse replaces a completed key's pending response.
func (s *Store) ResolveKeyResponse(ctx context.Context, method, key string, response []byte) error {
	_, err := s.pool.Exec(ctx, `
UPDATE idempotency_key SET response = $3, response_pending = false
WHERE method = $1 AND key = $2 AND state = 'completed' AND response_pending`, method, key, response)
	return mapError(err)
}

// DeleteExpiredKeys deletes up to limit keys created before before.
func (s *Store) DeleteExpiredKeys(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
DELETE FROM idempotency_key WHERE (method, key) IN (
    SELECT method, key FROM idempotency_key WHERE create_time < $1 LIMIT $2)`, before, limit)
	if err != nil {
		return 0, mapError(err)
	}
	return tag.RowsAffected(), nil
}

// CompleteKey stores the response of a key still held by k.LockID.
func (t *tx) CompleteKey(ctx context.Context, k payment.Key) error {
	tag, err := t.tx.Exec(ctx, `
UPDATE idempotency_key SET state = 'completed', response = $4, response_pending = $5, complete_time = now()
WHERE method = $1 AND key = $2 AND lock_id = $3 AND state = 'in_flight'`, k.Method, k.Key, k.LockID, k.Response, k.Pending)
	if err != nil {
		return mapError(err)
	}
	if tag.RowsAffected() != 1 {
		return payment.ErrKeyLost
	}
	return nil
}
