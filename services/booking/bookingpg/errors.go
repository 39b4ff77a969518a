package bookingpg

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/booking/booking"
)

// mapErr translates a database error into the domain's errors, once. Domain errors
// returned from inside a transaction pass through unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasSuffix(pgErr.ConstraintName, "_not_overbooked") {
		return booking.ErrInsufficientAvailability
	}
	mapped := pgxutil.MapError(err)
	switch {
	case errors.Is(mapped, pgxutil.ErrNotFound):
		return booking.ErrNotFound
	case errors.Is(mapped, pgxutil.ErrAlreadyExists):
		return errors.Join(booking.ErrAlreadyExists, err)
	case errors.Is(mapped, pgxutil.ErrConflict):
		return errors.Join(booking.ErrConflict, err)
	}
	return mapped
}
