// Package sourceevents turns the events analytics consumes (booking's, payment's,
// billing's, fare's and trip's, waybill.events.v1.Event with fat payloads) into analytics' facts.
// It is the only place of analytics where the sources' generated types meet its domain,
// as a client adapter is for a called service.
package sourceevents

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/analytics/analytics"
)

// Source is one service analytics consumes: its name, the event types it reads, and how
// an event becomes a fact.
type Source struct {
	// Name is the source service's name ("booking").
	Name string
	// Types are the event types consumed.
	Types []string
}

// Sources are every source analytics consumes, in a fixed order.
var Sources = []Source{
	{Name: "booking", Types: []string{
		"booking.reservation.held", "booking.reservation.confirmed", "booking.reservation.checked_in",
		"booking.reservation.checked_out", "booking.reservation.completed", "booking.reservation.cancelled",
		"booking.reservation.expired",
		"booking.departure.created", "booking.departure.updated", "booking.departure.cancelled",
		"booking.property.created", "booking.property.updated", "booking.property.closed",
	}},
	{Name: "payment", Types: []string{"payment.payment.authorized", "payment.payment.captured",
		"payment.payment.failed", "payment.payment.refunded"}},
	{Name: "billing", Types: []string{"billing.bill.finalized", "billing.bill.paid", "billing.bill.failed",
		"billing.bill.settled", "billing.bill.cancelled"}},
	{Name: "fare", Types: []string{"fare.fare.calculated"}},
	{Name: "trip", Types: []string{"trip.trip.requested", "trip.trip.driver_assigned", "trip.trip.ended", "trip.trip.cancelled"}},
}

// Decode returns the fact ev carries: an analytics.Reservation, Departure, Property,
// Payment, Bill or Fare, or nil for an event analytics does not count. An event whose
// payload is missing or malformed is an error (the consumer retries, then parks it).
func Decode(ev *eventsv1.Event) (any, error) {
	at := ev.GetOccurredTime().AsTime()
	typ := ev.GetType()
	switch {
	case strings.HasPrefix(typ, "booking.reservation."):
		var p bookingv1.ReservationEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		return reservation(p.GetReservation(), at), nil
	case strings.HasPrefix(typ, "booking.departure."):
		var p bookingv1.DepartureEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		return departure(p.GetDeparture()), nil
	case strings.HasPrefix(typ, "booking.property."):
		var p bookingv1.PropertyEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		return property(p.GetProperty(), at), nil
	case strings.HasPrefix(typ, "payment.payment."):
		var p paymentv1.PaymentEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		return payment(typ, &p, at), nil
	case strings.HasPrefix(typ, "billing.bill."):
		var p billingv1.BillEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		return bill(p.GetBill(), at), nil
	case typ == "fare.fare.calculated":
		var p farev1.FareEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		f := p.GetFare()
		return analytics.Fare{TripID: f.GetTripId(), City: f.GetCity(), Total: fromMoney(f.GetTotal()),
			Surged: f.GetSurgeMultiplierBps() > 10000, At: at}, nil
	case strings.HasPrefix(typ, "trip.trip."):
		var p tripv1.TripEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		tr := p.GetTrip()
		out := analytics.Trip{ID: tr.GetId(), City: tr.GetCity(), At: at}
		switch typ {
		case "trip.trip.requested":
			if p.GetPreviousStatus() == tripv1.TripStatus_TRIP_STATUS_UNSPECIFIED {
				out.Step = analytics.TripRequested // not again when re-requested after a driver cancelled
			}
		case "trip.trip.driver_assigned":
			out.Step = analytics.TripAssigned
			if tr.GetAssignTime() != nil && tr.GetCreateTime() != nil {
				out.WaitForDriver = tr.GetAssignTime().AsTime().Sub(tr.GetCreateTime().AsTime())
			}
		case "trip.trip.ended":
			out.Step = analytics.TripCompleted
		case "trip.trip.cancelled":
			out.Step = analytics.TripCancelled
		}
		return out, nil
	}
	return nil, nil
}

// unpack reads ev's payload into m.
func unpack(ev *eventsv1.Event, m proto.Message) error {
	if ev.GetPayload() == nil {
		return fmt.Errorf("event %s (%s) has no payload", ev.GetId(), ev.GetType())
	}
	if err := ev.GetPayload().UnmarshalTo(m); err != nil {
		return fmt.Errorf("event %s (%s): payload: %w", ev.GetId(), ev.GetType(), err)
	}
	return nil
}

func fromMoney(m *typev1.Money) money.Money {
	return money.New(m.GetAmountMinor(), m.GetCurrencyCode())
}

func date(d *typev1.Date) time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.Date(int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay()), 0, 0, 0, 0, time.UTC)
}

// reservation is the fact of a reservation event.
func reservation(r *bookingv1.Reservation, at time.Time) analytics.Reservation {
	out := analytics.Reservation{ID: r.GetId(), Quantity: int64(r.GetQuantity()), Price: fromMoney(r.GetPrice()), At: at}
	switch r.GetStatus() {
	case bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED, bookingv1.ReservationStatus_RESERVATION_STATUS_CHECKED_IN,
		bookingv1.ReservationStatus_RESERVATION_STATUS_COMPLETED:
		out.Stage = analytics.StageBooked
	case bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED:
		out.Stage = analytics.StageCancelled
		out.Refund = r.GetCancellation().GetRefundableAmount().GetAmountMinor()
	}
	if s := r.GetStay(); s != nil {
		out.Unit, out.UnitID, out.City = analytics.UnitProperty, s.GetPropertyId(), s.GetCity()
		out.FirstNight = date(s.GetCheckInDate())
		out.ServiceStart = out.FirstNight
		out.Nights = int64(s.GetNights())
		if out.Nights == 0 && !out.FirstNight.IsZero() {
			out.Nights = int64(date(s.GetCheckOutDate()).Sub(out.FirstNight).Hours() / 24)
		}
	} else if s := r.GetSeat(); s != nil {
		out.Unit, out.UnitID = analytics.UnitDeparture, s.GetDepartureId()
		out.Route, out.City = s.GetOrigin()+"-"+s.GetDestination(), s.GetOrigin()
		out.ServiceStart = s.GetDepartureTime().AsTime()
	}
	return out
}

// departure is the fact of a departure event.
func departure(d *bookingv1.Departure) analytics.Departure {
	out := analytics.Departure{ID: d.GetId(), Route: d.GetOrigin() + "-" + d.GetDestination(), City: d.GetOrigin(),
		Day: analytics.Day(d.GetDepartureTime().AsTime()), Cancelled: d.GetStatus() == bookingv1.DepartureStatus_DEPARTURE_STATUS_CANCELLED}
	for _, fc := range d.GetFareClasses() {
		out.Capacity += int64(fc.GetCapacity())
	}
	return out
}

// property is the fact of a property event committed at at.
func property(p *bookingv1.Property, at time.Time) analytics.Property {
	out := analytics.Property{ID: p.GetId(), City: p.GetCity(), OpenedOn: analytics.Day(p.GetCreateTime().AsTime())}
	for _, rt := range p.GetRoomTypes() {
		out.Capacity += int64(rt.GetNightlyCapacity())
	}
	if p.GetStatus() == bookingv1.PropertyStatus_PROPERTY_STATUS_CLOSED {
		out.ClosedOn = analytics.Day(at)
	}
	return out
}

// payment is the fact of a payment event of type typ.
func payment(typ string, p *paymentv1.PaymentEvent, at time.Time) analytics.Payment {
	out := analytics.Payment{Amount: fromMoney(p.GetOperation().GetAmount()), At: at}
	if out.Amount.Currency == "" {
		out.Amount = money.New(0, p.GetPayment().GetAuthorizedAmount().GetCurrencyCode())
	}
	switch typ {
	case "payment.payment.authorized":
		out.Op = analytics.PaymentAuthorized
	case "payment.payment.failed":
		out.Op = analytics.PaymentFailed
	case "payment.payment.captured":
		out.Op = analytics.PaymentCaptured
	case "payment.payment.refunded":
		out.Op = analytics.PaymentRefunded
	}
	return out
}

// bill is the fact of a bill event.
func bill(b *billingv1.Bill, at time.Time) analytics.Bill {
	out := analytics.Bill{ID: b.GetId(), At: at}
	switch b.GetStatus() {
	case billingv1.BillStatus_BILL_STATUS_FINALIZED, billingv1.BillStatus_BILL_STATUS_FAILED:
		out.Outstanding = true
	}
	for _, t := range b.GetTotals() {
		out.Totals = append(out.Totals, fromMoney(t))
	}
	return out
}
