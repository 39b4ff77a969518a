package pgxutil

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/errs"
)

// ReasonConflict and ReasonDatabaseUnavailable are the reasons of the errors MapError
// returns for a lost race and for a database that cannot answer.
const (
	ReasonConflict            = "CONFLICT"
	ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	ReasonReference           = "REFERENCE_VIOLATION"
)

// MapError translates a database error into the domain's vocabulary (kit/errs), once,
// keeping err as the cause so errors.As(MapError(err), &pgErr) still finds it:
//
//   - no rows → NotFound;
//   - unique (23505) or exclusion (23P01) violation → AlreadyExists;
//   - foreign key violation (23503) → FailedPrecondition, reason REFERENCE_VIOLATION;
//   - not-null (23502), check (23514) and data exceptions (class 22) → InvalidArgument,
//     naming the column when PostgreSQL does;
//   - serialization failure (40001), deadlock (40P01) → Aborted, reason CONFLICT: running
//     the whole transaction again may succeed (Retry does);
//   - connection failures, connection exceptions (08), operator intervention (57P01–03),
//     insufficient resources (53) → Unavailable, reason DATABASE_UNAVAILABLE.
//
// nil, context errors, errors that already carry a kind and errors it does not know are
// returned unchanged (unknown ones become INTERNAL at the transport, logged with an id).
func MapError(err error) error {
	if err == nil || errs.KindOf(err) != errs.Unknown || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Missing("", "not found").WithCause(err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if unreachable(err) {
			return errs.Unreachable(ReasonDatabaseUnavailable, "the database is unavailable; retry later").WithCause(err)
		}
		return err
	}
	switch code := pgErr.Code; {
	case code == "23505" || code == "23P01":
		return errs.Exists("", "already exists").WithCause(err)
	case code == "40001" || code == "40P01":
		return errs.Abort(ReasonConflict, "the change lost a race with a concurrent one; retry").WithCause(err)
	case code == "23503":
		return errs.Precondition(ReasonReference, "the change refers to something that does not exist, or something still refers to it").WithCause(err)
	case code == "23502" || code == "23514" || strings.HasPrefix(code, "22"):
		field := pgErr.ColumnName
		if field == "" {
			field = pgErr.ConstraintName
		}
		if field == "" {
			return (&errs.Error{Kind: errs.InvalidArgument, Message: "invalid value"}).WithCause(err)
		}
		return errs.Invalid(field, "is not a valid value").WithCause(err)
	case strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || code == "57P01" || code == "57P02" || code == "57P03":
		return errs.Unreachable(ReasonDatabaseUnavailable, "the database is unavailable; retry later").WithCause(err)
	}
	return err
}

// MapNotFound is MapError for a read of one row: no rows becomes a NotFound error whose
// message says what was looked for (format and args: "rate card %q not found"); any other
// error is MapError's.
func MapNotFound(err error, format string, args ...any) error {
	return Constraints(nil).MapNotFound(err, format, args...)
}

// unreachable reports whether err means the database could not be reached or the
// connection broke: nothing a retry later cannot fix.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) || errors.Is(err, net.ErrClosed)
}

// Constraints maps constraint names to the errors a service reports when they reject a
// change: its own reasons for what the schema enforces (a seat that would overbook, a
// reservation already billed). The *errs.Error is returned with the database error as
// its cause.
type Constraints map[string]*errs.Error

// Map returns the error of the constraint that rejected err, or MapError(err) when no
// listed constraint did.
func (c Constraints) Map(err error) error {
	var pgErr *pgconn.PgError
	if errs.KindOf(err) == errs.Unknown && errors.As(err, &pgErr) && pgErr.ConstraintName != "" {
		if e, ok := c[pgErr.ConstraintName]; ok {
			return e.WithCause(err)
		}
	}
	return MapError(err)
}

// MapNotFound is Map for a read of one row: no rows becomes a NotFound error whose
// message says what was looked for; any other error is Map's.
func (c Constraints) MapNotFound(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Missing("", format, args...).WithCause(err)
	}
	return c.Map(err)
}

// retryable reports whether running the transaction again may succeed.
func retryable(err error) bool {
	e, ok := errs.As(MapError(err))
	return ok && e.Kind == errs.Aborted && e.Reason == ReasonConflict
}

// The kinds MapError's errors have, under their former names, while services move to
// matching kit/errs kinds directly. errors.Is(MapError(err), ErrNotFound) holds for no
// rows.
var (
	ErrNotFound      error = errs.NotFound
	ErrAlreadyExists error = errs.AlreadyExists
	ErrConflict      error = errs.Aborted
	ErrForeignKey    error = errs.FailedPrecondition
	ErrInvalid       error = errs.InvalidArgument
)
