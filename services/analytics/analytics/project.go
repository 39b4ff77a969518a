package analytics

import (
	"time"

	"github.com/waybill/waybill/kit/money"
)

// BookingDelta changes the booking rollup of a day and unit (the day of the
// confirmation or the cancellation).
type BookingDelta struct {
	Day    time.Time
	Unit   UnitKind
	UnitID string
	// Bookings, Cancellations, StayBookings and StayNights are added to the counts.
	Bookings, Cancellations, StayBookings, StayNights int64
	// Currency is the currency of Gross and Refunds.
	Currency string
	// Gross and Refunds are added to the money rollup.
	Gross, Refunds int64
}

// UsageDelta changes what a unit sold on a day of service (a night, or a departure's
// day): rooms or seats, and the revenue attributed to that day.
type UsageDelta struct {
	Day      time.Time
	Unit     UnitKind
	UnitID   string
	Currency string
	Sold     int64
	Revenue  int64
}

// ReservationEffect is what one reservation event does to the rollups.
type ReservationEffect struct {
	// Book says the reservation is now counted as booked: store it (the stored copy is
	// what a later cancellation takes back).
	Book bool
	// Cancel says the booked reservation is now cancelled.
	Cancel bool
	// Booking is the change to the booking rollup, when Book or Cancel.
	Booking BookingDelta
	// Usage are the changes to the usage rollup, one per night or one per departure.
	Usage []UsageDelta
}

// ProjectReservation returns what the event r does to the rollups, given the stored copy
// of the reservation when it was booked (nil when it is not booked) and whether that was
// cancelled already. A reservation is booked once, on its first event in a booked stage,
// and cancelled once, on its first cancellation after that; other events (holds,
// expiries, check-ins, modifications, repeats) change nothing, so that the rollups depend
// only on the events and not on how often they arrive.
func ProjectReservation(stored *Reservation, cancelled bool, r Reservation) ReservationEffect {
	switch {
	case r.Stage == StageBooked && stored == nil:
		d := BookingDelta{Day: Day(r.At), Unit: r.Unit, UnitID: r.UnitID, Bookings: 1,
			Currency: r.Price.Currency, Gross: r.Price.Amount}
		if r.Unit == UnitProperty {
			d.StayBookings, d.StayNights = 1, r.Nights
		}
		return ReservationEffect{Book: true, Booking: d, Usage: Usage(r, 1)}
	case r.Stage == StageCancelled && stored != nil && !cancelled:
		d := BookingDelta{Day: Day(r.At), Unit: stored.Unit, UnitID: stored.UnitID, Cancellations: 1,
			Currency: stored.Price.Currency, Refunds: r.Refund}
		return ReservationEffect{Cancel: true, Booking: d, Usage: Usage(*stored, -1)}
	}
	return ReservationEffect{}
}

// Usage returns the usage of a booked reservation, times sign (1 to add it, -1 to take
// it back). A stay uses its rooms on each night, its price spread evenly over the nights
// (the remainder's minor units going one each to the first nights, so the nights add up
// to the price); seats are used on the departure's UTC day.
func Usage(r Reservation, sign int64) []UsageDelta {
	if r.Unit == UnitDeparture {
		return []UsageDelta{{Day: Day(r.ServiceStart), Unit: r.Unit, UnitID: r.UnitID, Currency: r.Price.Currency,
			Sold: sign * r.Quantity, Revenue: sign * r.Price.Amount}}
	}
	if r.Nights <= 0 {
		return nil
	}
	base, rem := r.Price.Amount/r.Nights, r.Price.Amount%r.Nights
	out := make([]UsageDelta, r.Nights)
	for i := range out {
		rev := base
		if int64(i) < rem {
			rev++
		}
		out[i] = UsageDelta{Day: r.FirstNight.AddDate(0, 0, i), Unit: r.Unit, UnitID: r.UnitID,
			Currency: r.Price.Currency, Sold: sign * r.Quantity, Revenue: sign * rev}
	}
	return out
}

// ReceivableDelta changes the receivables of a day in one currency: Finalized is owed
// from that day on, Cleared is no longer owed.
type ReceivableDelta struct {
	Day       time.Time
	Currency  string
	Finalized int64
	Cleared   int64
}

// ProjectBill returns the change to the receivables when a bill that was outstanding
// (wasOutstanding, with the totals stored then) becomes b.
func ProjectBill(wasOutstanding bool, stored []money.Money, b Bill) []ReceivableDelta {
	switch {
	case b.Outstanding && !wasOutstanding:
		out := make([]ReceivableDelta, 0, len(b.Totals))
		for _, t := range b.Totals {
			out = append(out, ReceivableDelta{Day: Day(b.At), Currency: t.Currency, Finalized: t.Amount})
		}
		return out
	case !b.Outstanding && wasOutstanding:
		out := make([]ReceivableDelta, 0, len(stored))
		for _, t := range stored {
			out = append(out, ReceivableDelta{Day: Day(b.At), Currency: t.Currency, Cleared: t.Amount})
		}
		return out
	}
	return nil
}
