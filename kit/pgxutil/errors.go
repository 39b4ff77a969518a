package pgxutil

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The sentinel errors MapError wraps PostgreSQL errors in. A storage package maps them
// once more, to its domain's errors.
var (
	// ErrNotFound means a query that must return a row returned none.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a unique (23505) or exclusion (23P01) constraint rejected a
	// row because a conflicting one exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the transaction lost a race with a concurrent one: a
	// serialization failure (40001) or a deadlock (40P01). Running the whole transaction
	// again may succeed; InTxOpts does so.
	ErrConflict = errors.New("conflict with a concurrent transaction")
	// ErrForeignKey means a foreign key constraint (23503) rejected the change: the row
	// refers to a row that does not exist, or a deleted row is still referred to.
	ErrForeignKey = errors.New("foreign key violation")
	// ErrInvalid means the database rejected a value: a not-null (23502) or check
	// (23514) constraint, or a data exception (class 22: too long, out of range,
	// malformed).
	ErrInvalid = errors.New("invalid value")
)

// MapError wraps err in the sentinel error that describes it, keeping err itself in the
// chain: errors.Is(MapError(err), ErrAlreadyExists) and errors.As(MapError(err),
// &pgErr) both hold for a unique violation. nil, context errors, errors already mapped
// and errors it does not know are returned unchanged.
func MapError(err error) error {
	if err == nil || isMapped(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch code := pgErr.Code; {
	case code == "23505" || code == "23P01":
		return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
	case code == "40001" || code == "40P01":
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case code == "23503":
		return fmt.Errorf("%w: %w", ErrForeignKey, err)
	case code == "23502" || code == "23514" || strings.HasPrefix(code, "22"):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

func isMapped(err error) bool {
	for _, s := range []error{ErrNotFound, ErrAlreadyExists, ErrConflict, ErrForeignKey, ErrInvalid} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// retryable reports whether running the transaction again may succeed.
func retryable(err error) bool {
	return errors.Is(MapError(err), ErrConflict)
}
