package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// Collecting ride fares: a ride's bill (BillRideFare) is paid through the pay saga with
// the rider's default payment method, their newest active one (older active ones are
// tried when it is refused as unusable). A rider without a usable method stays BLOCKED
// (ReasonRideFareUnpaid) and the collection is tried again with backoff; once a saga is
// started the collection is done, and a saga that fails leaves the bill FAILED for the
// rider to pay (failed payments are never retried automatically).

// Backoff of ride collections: the first retry after CollectRetryInitial, doubling up
// to CollectRetryMax.
const (
	CollectRetryInitial = 5 * time.Second
	CollectRetryMax     = time.Hour
)

// Collection is a ride bill still to collect.
type Collection struct {
	// BillID is the bill; CustomerID the rider.
	BillID, CustomerID string
	// Attempts is how many attempts failed so far.
	Attempts int
}

// Collections stores the ride bills still to collect.
type Collections interface {
	// DueCollections returns up to limit collections due at now, oldest first.
	DueCollections(ctx context.Context, now time.Time, limit int) ([]Collection, error)
	// FinishCollection marks a collection done, or records a failed attempt (why) and
	// when to try again.
	FinishCollection(ctx context.Context, billID string, done bool, why string, next time.Time) error
}

// RideMethods finds a rider's payment methods.
type RideMethods interface {
	// ActiveMethods returns the ids of the customer's active payment methods, newest
	// first (at most a few).
	ActiveMethods(ctx context.Context, customerID string) ([]string, error)
}

// collector is the caller billing collects rides as.
var collector = caller.Caller{Subject: "billing", Role: caller.Service}

// CollectRides starts the pay saga of up to limit ride bills due for collection and
// returns how many it started.
func (s *Service) CollectRides(ctx context.Context, store Collections, methods RideMethods, limit int) (int, error) {
	due, err := store.DueCollections(ctx, s.now(), limit)
	if err != nil {
		return 0, err
	}
	started := 0
	for _, c := range due {
		done, why := s.collect(ctx, methods, c)
		next := s.now().Add(min(CollectRetryInitial<<min(c.Attempts, 20), CollectRetryMax))
		if err := store.FinishCollection(ctx, c.BillID, done, why, next); err != nil {
			return started, err
		}
		if done && why == "" {
			started++
		}
	}
	return started, nil
}

// collect tries to start the pay saga of one ride bill. It reports whether the
// collection is over (started, or no longer needed: the bill is paid, being paid or
// cancelled) and, when it is not started, why.
func (s *Service) collect(ctx context.Context, methods RideMethods, c Collection) (done bool, why string) {
	ids, err := methods.ActiveMethods(ctx, c.CustomerID)
	if err != nil {
		return false, fmt.Sprintf("list payment methods: %v", err)
	}
	if len(ids) == 0 {
		return false, "the rider has no active payment method"
	}
	for _, m := range ids {
		_, err := s.PayBill(ctx, collector, c.BillID, m, 0, "ride-collect-"+c.BillID+"-"+m)
		var e *errs.Error
		switch {
		case err == nil:
			return true, ""
		case !errors.As(err, &e):
			return false, err.Error()
		case e.Reason == ReasonPaymentMethodNotUsable || e.Reason == ReasonPaymentMethodNotFound:
			why = err.Error()
			continue // an older method may do
		case e.Reason == ReasonBillNotPayable || e.Reason == ReasonPaymentInProgress || e.Kind == errs.NotFound:
			return true, "not needed: " + err.Error()
		default:
			return false, err.Error()
		}
	}
	return false, why
}
