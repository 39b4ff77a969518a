package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

// Rides on bills. Fare announces each ride's final fare (fare.fare.calculated, a
// completed ride's fare or a late cancellation's fee); billing's consumer of those
// events puts the fare on the rider's account: on a bill of its own, FINALIZED at once
// with the fare as the ride item's billed amount, so that it is owed (the balance's
// outstanding amount) and collected through the pay saga like any bill. A ride the rider
// already put on a bill that is not cancelled stays there. Until the fare is paid the
// rider's standing is BLOCKED (ReasonRideFareUnpaid), which trip's request gate refuses.

// KindRide is the reservation kind of rides (waybill.reservation.v1.Kind KIND_RIDE).
const KindRide Kind = 5

// RideProvider is the provider rides are billed under when billing's configuration
// names none for KindRide.
const RideProvider = "trip"

// ReasonRideFareUnpaid is the standing reason of a rider with a ride fare on a bill not
// yet paid: BLOCKED until it is.
const ReasonRideFareUnpaid = "RIDE_FARE_UNPAID"

// RideFare is a ride's final fare, from fare's event.
type RideFare struct {
	// TripID is the ride (the reservation id of the ride item); CustomerID pays.
	TripID, CustomerID string
	// City and Product describe the ride, for the item's title.
	City, Product string
	// DistanceMeters is the distance priced, for the title.
	DistanceMeters int64
	// CancellationFee is true for a late cancellation's fee.
	CancellationFee bool
	// Total is the amount owed.
	Total money.Money
	// CalculateTime is when fare calculated it.
	CalculateTime time.Time
}

// Title is the ride item's one-line title.
func (f RideFare) Title() string {
	if f.CancellationFee {
		return fmt.Sprintf("Cancellation fee, %s ride in %s", f.Product, f.City)
	}
	return fmt.Sprintf("%s ride in %s, %d.%d km", f.Product, f.City, f.DistanceMeters/1000, f.DistanceMeters%1000/100)
}

// RideTx is what billing a ride fare reads and writes, in the fare consumer's
// transaction.
type RideTx interface {
	// ActiveBill returns the bill, not cancelled, holding the reservation; ok false when
	// none does.
	ActiveBill(ctx context.Context, provider, reservationID string) (billID string, ok bool, err error)
	// InsertRideBill writes b (with its one item and the item's summary) and emits its
	// events: billing.bill.opened and billing.bill.finalized.
	InsertRideBill(ctx context.Context, b Bill) error
}

// BillRideFare puts a ride's fare on the rider's account (see the comment at the top of
// this file), in tx, the transaction of the consumer that received it: the bill and its
// events commit with the consumer's cursor, so each fare is billed exactly once.
func (s *Service) BillRideFare(ctx context.Context, tx RideTx, f RideFare) error {
	if f.TripID == "" || f.CustomerID == "" {
		return errs.Invalid("fare", "the fare names no trip or no customer")
	}
	if err := money.Check("fare.total", f.Total); err != nil {
		return err
	}
	if f.Total.Amount == 0 {
		return nil // a free ride owes nothing: no bill
	}
	provider, ok := s.providers.Provider(KindRide)
	if !ok {
		provider = RideProvider
	}
	if _, ok, err := tx.ActiveBill(ctx, provider, f.TripID); err != nil || ok {
		return err // already on a bill: that bill holds it (its amount follows trip's events)
	}
	now := s.now()
	calculated := f.CalculateTime
	if calculated.IsZero() {
		calculated = now
	}
	b := Bill{ID: ids.New(), CustomerID: f.CustomerID, Currency: f.Total.Currency, Status: StatusFinalized,
		CreateTime: now, UpdateTime: now, FinalizeTime: now, Version: 1}
	b.Items = []Item{{ID: ids.New(), Kind: KindRide, Provider: provider, ReservationID: f.TripID, Billed: f.Total, CreateTime: now,
		Summary: &Summary{Provider: provider, ReservationID: f.TripID, Kind: KindRide, CustomerID: f.CustomerID,
			MainStatus: MainStatusCompleted, Amount: f.Total, Title: f.Title(), UpdateTime: calculated,
			// The lowest real version: trip's own events about the ride (which carry trip's
			// version, always higher) replace this summary as they arrive.
			Version: 1}}}
	return tx.InsertRideBill(ctx, b)
}

// unpaidRides returns the ids of the bills among bills (a customer's OPEN, FINALIZED and
// FAILED ones) that hold an unpaid ride fare: a finalized bill with a ride billed a
// non-zero amount, or an open one with a completed ride.
func unpaidRides(bills []Bill) []string {
	var out []string
	for _, b := range bills {
		for _, it := range b.Items {
			if it.Kind != KindRide {
				continue
			}
			finalized := b.Status != StatusOpen && it.Billed.Amount > 0
			completed := b.Status == StatusOpen && it.Summary != nil && it.Summary.MainStatus == MainStatusCompleted && it.Summary.Amount.Amount > 0
			if finalized || completed {
				out = append(out, b.ID)
				break
			}
		}
	}
	return out
}
