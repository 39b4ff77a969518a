package idempotencypg

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the idempotency_keys table as *.sql files named 0300_idempotency.sql
// and up, to be merged with the service's own migrations (pgxutil.MergeMigrations) and
// applied to its schema.
var Migrations fs.FS = pgxutil.Dir(migrationFiles, "migrations")

// errReused is the error for a key used before with other parameters; it matches
// idempotency.ErrRequestIDReused.
func errReused() error {
	e := errs.Invalid("request_id", "was used before with different parameters; use a new request_id for a new request")
	e.Reason = idempotency.ReasonRequestIDReused
	return e
}

// errInProgress is the error for a key another call holds; it matches
// idempotency.ErrRequestInProgress.
func errInProgress() error {
	return errs.Abort(idempotency.ReasonRequestInProgress, "a call with this request_id is still in progress; retry later")
}

// errRaced is returned when another call with the key committed between this call's
// look and its write. Its reason is pgxutil's CONFLICT, so the transaction helpers
// (txn.Runner, pgxutil.Retry) run the transaction again, which then replays the result.
func errRaced() error {
	return errs.Abort(pgxutil.ReasonConflict, "another call with this request_id completed first; retry to get its result")
}

// Querier runs statements: pgx.Tx, *txn.Tx, *pgxpool.Pool and *pgx.Conn all do. Claims in
// the mutation's transaction take the transaction; lease statements that must commit on
// their own (Acquire, Abandon, Resolve) and Prune take the pool.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// keyless reports whether k claims nothing.
func keyless(k idempotency.Key) bool { return k.RequestID == "" }

// check reports a key the program built wrong, and a request id too long to store (the
// table has no CHECK constraints; see the migration).
func check(k idempotency.Key) error {
	if k.Method == "" || k.Subject == "" {
		return fmt.Errorf("idempotency key %q: method and subject are required", k.RequestID)
	}
	if len(k.RequestID) > idempotency.MaxRequestID {
		return errs.Invalid("request_id", "must be at most %d characters", idempotency.MaxRequestID)
	}
	return nil
}

// Options configures Keys. The zero value keeps keys idempotency.DefaultTTL, leases
// them idempotency.DefaultLease and reads the wall clock.
type Options struct {
	// TTL is how long a key is kept; 0 means idempotency.DefaultTTL.
	TTL time.Duration
	// Lease is how long an in-flight leased key belongs to its attempt before another
	// may take it over; 0 means idempotency.DefaultLease. Calls made under the lease
	// must end well within it.
	Lease time.Duration
	// Now returns the current time; nil means time.Now. Tests pass their clock.
	Now func() time.Time
}

// Keys claims, completes and prunes idempotency keys in the idempotency_keys table of the
// schema that the search_path of the connection resolves (pgxutil.PoolConfig.Schema). It
// holds no connection and is safe for concurrent use.
type Keys struct {
	opts Options
}

// New returns Keys with opts.
func New(opts Options) *Keys {
	if opts.TTL <= 0 {
		opts.TTL = idempotency.DefaultTTL
	}
	if opts.Lease <= 0 {
		opts.Lease = idempotency.DefaultLease
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Keys{opts: opts}
}

// now returns the current time, in microseconds as PostgreSQL stores it.
func (ks *Keys) now() time.Time { return ks.opts.Now().UTC().Truncate(time.Microsecond) }

// lookSQL reads a key that has not expired ($4: created after).
const lookSQL = `SELECT request_hash, completed, result, result_pending, memo
FROM idempotency_keys WHERE method = $1 AND subject = $2 AND request_id = $3 AND create_time > $4`

// Lookup returns the stored result of k without claiming it, for a call that checks for
// a replay before work it would rather not start (asking another service, say). found is
// false while no call with k has completed. A key used with other parameters is
// INVALID_ARGUMENT (REQUEST_ID_REUSED).
func (ks *Keys) Lookup(ctx context.Context, q Querier, k idempotency.Key) (result []byte, found bool, err error) {
	if keyless(k) {
		return nil, false, nil
	}
	if err := check(k); err != nil {
		return nil, false, err
	}
	var s stored
	err = q.QueryRow(ctx, lookSQL, k.Method, k.Subject, k.RequestID, ks.now().Add(-ks.opts.TTL)).
		Scan(&s.hash, &s.completed, &s.result, &s.pending, &s.memo)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up idempotency key: %w", pgxutil.MapError(err))
	}
	if !s.sameHash(k) {
		return nil, false, errReused()
	}
	if !*s.completed {
		return nil, false, nil
	}
	return s.result, true, nil
}

// stored is a key's row as a claim reads it; completed is nil when there is none.
type stored struct {
	hash      []byte
	completed *bool
	result    []byte
	pending   *bool
	memo      []byte
}

func (s stored) exists() bool { return s.completed != nil }

func (s stored) sameHash(k idempotency.Key) bool {
	// In constant time: a keyed hash of secret parameters (card data) stays opaque.
	return subtle.ConstantTimeCompare(s.hash, nonNil(k.Hash)) == 1
}

// replay returns the claim that answers a retry of a completed key.
func (s stored) replay(ks *Keys, k idempotency.Key) *Claim {
	return &Claim{Replayed: true, Result: s.result, Pending: *s.pending, Memo: s.memo, ks: ks, key: k, mode: modeReplay}
}

// nonNil returns b, or an empty slice for nil: pgx sends nil as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
