package billingpg

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/billing/billing"
)

// activeReservationIndex is the unique index that keeps a reservation on one bill.
const activeReservationIndex = "bill_items_active_reservation"

// mapError translates storage errors to the domain's, once. Errors that are already the
// domain's (from a mutation's function) pass unchanged.
func mapError(err error) error {
	var fe *billing.FieldError
	var re *billing.ReasonError
	if err == nil || errors.As(err, &fe) || errors.As(err, &re) {
		return err
	}
	m := pgxutil.MapError(err)
	switch {
	case errors.Is(m, pgxutil.ErrNotFound):
		return fmt.Errorf("%w: %w", billing.ErrNotFound, err)
	case errors.Is(m, pgxutil.ErrAlreadyExists):
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.ConstraintName == activeReservationIndex {
			return &billing.ReasonError{Kind: billing.ErrAlreadyExists, Reason: billing.ReasonAlreadyBilled,
				Message: "the reservation is already an item of a bill that is not cancelled"}
		}
		return fmt.Errorf("%w: %w", billing.ErrAlreadyExists, err)
	case errors.Is(m, pgxutil.ErrConflict):
		return fmt.Errorf("%w: %w", billing.ErrConflict, err)
	}
	return m
}
