package bookingpg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/services/booking/booking"
)

// Options configures a Store.
type Options struct {
	// Encode turns a domain event into its payload message (the transport's converter).
	// Required.
	Encode func(booking.Event) (proto.Message, error)
	// Notify, when set, is called after every commit that wrote events, to wake the
	// outbox sequencer (outbox.Log.Notify).
	Notify func()
}

// Store is booking's storage on PostgreSQL; it implements booking.Store.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

var _ booking.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the booking schema.
func New(pool *pgxpool.Pool, o Options) *Store {
	return &Store{pool: pool, opts: o}
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// claimKey records an idempotency key for resourceID in tx. It returns the resource the
// key was first used for and false when the key was used already (the caller then returns
// that resource's state instead of changing it), or true when this call is the first.
// Concurrent calls with one key wait for each other on the key's row.
func claimKey(ctx context.Context, tx *txn, key booking.IdempotencyKey, resourceID string) (string, []byte, bool, error) {
	if key.RequestID == "" {
		return resourceID, nil, true, nil
	}
	tag, err := tx.Exec(ctx, claimKeySQL, key.Actor, key.Operation, key.RequestID, resourceID)
	if err != nil {
		return "", nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return resourceID, nil, true, nil
	}
	first, result, err := readKey(ctx, tx, key)
	return first, result, false, err
}

// claimKeySQL records an idempotency key unless it exists: $1 actor, $2 operation, $3
// request id, $4 resource id. It waits for a concurrent transaction holding the same key.
const claimKeySQL = `
	INSERT INTO idempotency_key (actor, operation, request_id, resource_id)
	VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`

// readKey reads a used idempotency key: the resource it was first used for and its
// saved result.
func readKey(ctx context.Context, tx *txn, key booking.IdempotencyKey) (string, []byte, error) {
	var first string
	var result []byte
	err := tx.QueryRow(ctx, `
		SELECT resource_id::text, result FROM idempotency_key
		WHERE actor = $1 AND operation = $2 AND request_id = $3`,
		key.Actor, key.Operation, key.RequestID).Scan(&first, &result)
	if err != nil {
		return "", nil, fmt.Errorf("read idempotency key: %w", err)
	}
	return first, result, nil
}

// saveKeyResult stores a small result with an idempotency key, for retries to replay.
func saveKeyResult(ctx context.Context, tx *txn, key booking.IdempotencyKey, result []byte) error {
	if key.RequestID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `
		UPDATE idempotency_key SET result = $4 WHERE actor = $1 AND operation = $2 AND request_id = $3`,
		key.Actor, key.Operation, key.RequestID, result)
	if err != nil {
		return fmt.Errorf("save idempotency result: %w", err)
	}
	return nil
}

// errKeyReused is returned when a request id is reused for another resource.
func errKeyReused(field string) error {
	return booking.Invalid(field, "was already used for another resource")
}

// isNoRows reports whether err means a query found no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
