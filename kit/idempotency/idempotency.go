package idempotency

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the idempotency_keys table as *.sql files named 0300_idempotency.sql
// and up, to be merged with the service's own migrations (pgxutil.MergeMigrations) and
// applied to its schema.
var Migrations fs.FS = pgxutil.Dir(migrationFiles, "migrations")

// The defaults of Options.
const (
	// DefaultTTL is how long a key is kept: a retry within it replays the first result,
	// a call after it runs again.
	DefaultTTL = 24 * time.Hour
	// DefaultLease is how long an in-flight leased key belongs to its attempt.
	DefaultLease = 30 * time.Second
)

// MaxRequestID is the longest request id, in bytes.
const MaxRequestID = 128

// The reasons of the errors a claim returns.
const (
	// ReasonRequestIDReused is the reason of the INVALID_ARGUMENT error (field
	// request_id) for a key used before with other parameters.
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonRequestInProgress is the reason of the ABORTED error for a retry while the
	// first call with the key is still running.
	ReasonRequestInProgress = "REQUEST_IN_PROGRESS"
)

// ErrRequestIDReused and ErrRequestInProgress match, with errors.Is, the errors a claim
// returns for a key reused with other parameters and for a key still in flight.
var (
	ErrRequestIDReused   error = &errs.Error{Kind: errs.InvalidArgument, Reason: ReasonRequestIDReused}
	ErrRequestInProgress error = &errs.Error{Kind: errs.Aborted, Reason: ReasonRequestInProgress}
)

func errReused() error {
	e := errs.Invalid("request_id", "was used before with different parameters; use a new request_id for a new request")
	e.Reason = ReasonRequestIDReused
	return e
}

func errInProgress() error {
	return errs.Abort(ReasonRequestInProgress, "a call with this request_id is still in progress; retry later")
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

// Key identifies one idempotent call: its scope (Method and Subject), the caller's
// RequestID, and a digest of its parameters. A Key with an empty RequestID claims
// nothing: the call runs every time and stores nothing.
type Key struct {
	// Method is the mutation, usually the RPC's name ("CreateBill").
	Method string
	// Subject is the caller's identity (caller.Caller.Subject): two callers' equal
	// request ids are different keys.
	Subject string
	// RequestID is the caller's idempotency key; see CheckRequestID.
	RequestID string
	// Hash is a digest of the call's parameters (Fingerprint, or a keyed hash when they
	// are secret): the same RequestID with another Hash is refused with
	// REQUEST_ID_REUSED.
	Hash []byte
}

// keyless reports whether k claims nothing.
func (k Key) keyless() bool { return k.RequestID == "" }

// check reports a key the program built wrong, and a request id too long to store (the
// table has no CHECK constraints; see the migration).
func (k Key) check() error {
	if k.Method == "" || k.Subject == "" {
		return fmt.Errorf("idempotency key %q: method and subject are required", k.RequestID)
	}
	if len(k.RequestID) > MaxRequestID {
		return errs.Invalid("request_id", "must be at most %d characters", MaxRequestID)
	}
	return nil
}

// Fingerprint returns a digest of a call's parameters for Key.Hash: SHA-256 of each part,
// length-prefixed so that ("ab", "c") and ("a", "bc") differ. Format numbers, times and
// enums into parts explicitly (strconv, time.Format), in a fixed order.
func Fingerprint(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(strconv.AppendInt(nil, int64(len(p)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// CheckRequestID checks a request id: at most MaxRequestID printable ASCII characters.
// An empty id passes unless required. The error is INVALID_ARGUMENT on field request_id.
func CheckRequestID(id string, required bool) error {
	if id == "" {
		if required {
			return errs.Invalid("request_id", "is required")
		}
		return nil
	}
	if len(id) > MaxRequestID {
		return errs.Invalid("request_id", "must be at most %d characters", MaxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return errs.Invalid("request_id", "must be printable ASCII")
		}
	}
	return nil
}

// Options configures Keys. The zero value keeps keys DefaultTTL, leases them
// DefaultLease and reads the wall clock.
type Options struct {
	// TTL is how long a key is kept; 0 means DefaultTTL.
	TTL time.Duration
	// Lease is how long an in-flight leased key belongs to its attempt before another
	// may take it over; 0 means DefaultLease. Calls made under the lease must end well
	// within it.
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
		opts.TTL = DefaultTTL
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
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
func (ks *Keys) Lookup(ctx context.Context, q Querier, k Key) (result []byte, found bool, err error) {
	if k.keyless() {
		return nil, false, nil
	}
	if err := k.check(); err != nil {
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

// pruneBatch bounds the rows one Prune statement deletes, so no statement holds many
// locks or runs long.
const pruneBatch = 5000

const pruneSQL = `DELETE FROM idempotency_keys WHERE (method, subject, request_id) IN (
    SELECT method, subject, request_id FROM idempotency_keys WHERE create_time <= $1 LIMIT $2)`

// Prune deletes the keys older than the TTL, in statements of at most 5,000 rows, and
// returns how many it deleted. An expired key is reusable before Prune deletes it (a
// claim replaces it); Prune only keeps the table small. Run it periodically (hourly,
// say) on the pool.
func (ks *Keys) Prune(ctx context.Context, db Querier) (int64, error) {
	before := ks.now().Add(-ks.opts.TTL)
	var total int64
	for {
		tag, err := db.Exec(ctx, pruneSQL, before, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", pgxutil.MapError(err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
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

func (s stored) sameHash(k Key) bool {
	// In constant time: a keyed hash of secret parameters (card data) stays opaque.
	return subtle.ConstantTimeCompare(s.hash, nonNil(k.Hash)) == 1
}

// replay returns the claim that answers a retry of a completed key.
func (s stored) replay(ks *Keys, k Key) *Claim {
	return &Claim{Replayed: true, Result: s.result, Pending: *s.pending, Memo: s.memo, ks: ks, key: k, mode: modeReplay}
}

// nonNil returns b, or an empty slice for nil: pgx sends nil as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
