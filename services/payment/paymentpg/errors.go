package paymentpg

import (
	"errors"
	"fmt"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/payment/payment"
)

// mapError turns a database error into the domain's: no rows → payment.ErrNotFound, a unique
// violation → payment.ErrAlreadyExists, a lost race → payment.ErrConflict. The original stays
// in the chain.
func mapError(err error) error {
	err = pgxutil.MapError(err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgxutil.ErrNotFound):
		return fmt.Errorf("%w (%w)", payment.ErrNotFound, err)
	case errors.Is(err, pgxutil.ErrAlreadyExists):
		return fmt.Errorf("%w (%w)", payment.ErrAlreadyExists, err)
	case errors.Is(err, pgxutil.ErrConflict):
		return fmt.Errorf("%w (%w)", payment.ErrConflict, err)
	}
	return err
}
