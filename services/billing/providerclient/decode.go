package providerclient

import (
	"time"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/billing/billing"
)

// action is what a feed does with one event.
type action int

const (
	// ignore: the event is about something other than a reservation.
	ignore action = iota
	// apply: the event's payload carries the reservation's summary.
	apply
	// refresh: the event is about a reservation but its payload cannot be read (an
	// unknown payload type, or none): fetch the details with GetReservationDetails.
	refresh
)

// decoded is a read event.
type decoded struct {
	action  action
	summary billing.Summary
}

// The payload types billing reads. The common envelope,
// waybill.reservation.v1.ReservationDetails, works for every provider; the others are the
// payloads booking and trip publish today.
var (
	detailsName     = (&reservationv1.ReservationDetails{}).ProtoReflect().Descriptor().FullName()
	bookingResName  = (&bookingv1.ReservationEvent{}).ProtoReflect().Descriptor().FullName()
	tripName        = (&tripv1.TripEvent{}).ProtoReflect().Descriptor().FullName()
	bookingOtherNms = map[string]bool{
		string((&bookingv1.DepartureEvent{}).ProtoReflect().Descriptor().FullName()): true,
		string((&bookingv1.PropertyEvent{}).ProtoReflect().Descriptor().FullName()):  true,
	}
)

// decode reads one event of provider.
func decode(provider string, ev *eventsv1.Event) decoded {
	p := ev.GetPayload()
	if p == nil {
		return refreshOf(ev)
	}
	switch name := p.MessageName(); {
	case name == detailsName:
		var d reservationv1.ReservationDetails
		if p.UnmarshalTo(&d) != nil {
			return refreshOf(ev)
		}
		s := SummaryOf(provider, &d)
		if s.ReservationID == "" {
			s.ReservationID = ev.GetKey()
		}
		return decoded{action: apply, summary: s}
	case name == bookingResName:
		var e bookingv1.ReservationEvent
		if p.UnmarshalTo(&e) != nil || e.GetReservation() == nil {
			return refreshOf(ev)
		}
		return decoded{action: apply, summary: bookingSummary(provider, e.GetReservation())}
	case name == tripName:
		var e tripv1.TripEvent
		if p.UnmarshalTo(&e) != nil || e.GetTrip() == nil {
			return refreshOf(ev)
		}
		return decoded{action: apply, summary: tripSummary(provider, e.GetTrip())}
	case bookingOtherNms[string(name)]:
		return decoded{action: ignore}
	}
	return refreshOf(ev)
}

func refreshOf(ev *eventsv1.Event) decoded {
	if ev.GetKey() == "" {
		return decoded{action: ignore}
	}
	return decoded{action: refresh, summary: billing.Summary{ReservationID: ev.GetKey()}}
}

// bookingStatus maps booking's statuses onto the common main status.
var bookingStatus = map[bookingv1.ReservationStatus]billing.MainStatus{
	bookingv1.ReservationStatus_RESERVATION_STATUS_HELD:       billing.MainStatusPending,
	bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED:  billing.MainStatusConfirmed,
	bookingv1.ReservationStatus_RESERVATION_STATUS_CHECKED_IN: billing.MainStatusInProgress,
	bookingv1.ReservationStatus_RESERVATION_STATUS_COMPLETED:  billing.MainStatusCompleted,
	bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED:  billing.MainStatusCancelled,
	bookingv1.ReservationStatus_RESERVATION_STATUS_EXPIRED:    billing.MainStatusExpired,
}

// bookingSummary reads a booking reservation. Booking's events carry no title; billing
// keeps the one from GetReservationDetails.
func bookingSummary(provider string, r *bookingv1.Reservation) billing.Summary {
	s := billing.Summary{
		Provider: provider, ReservationID: r.GetId(), Kind: billing.Kind(r.GetKind()), CustomerID: r.GetCustomerId(),
		MainStatus: bookingStatus[r.GetStatus()], SubStatus: r.GetSubStatus(), Version: r.GetVersion(),
		UpdateTime: ts(r.GetUpdateTime().AsTime(), r.GetUpdateTime() != nil),
	}
	if m := r.GetPrice(); m.GetCurrencyCode() != "" {
		s.Amount = money.Money{Amount: m.GetAmountMinor(), Currency: m.GetCurrencyCode()}
	}
	return s
}

// tripStatus maps trip's statuses onto the common main status, as trip.proto documents.
var tripStatus = map[tripv1.TripStatus]billing.MainStatus{
	tripv1.TripStatus_TRIP_STATUS_REQUESTED:       billing.MainStatusPending,
	tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED: billing.MainStatusConfirmed,
	tripv1.TripStatus_TRIP_STATUS_STARTED:         billing.MainStatusInProgress,
	tripv1.TripStatus_TRIP_STATUS_ENDED:           billing.MainStatusCompleted,
	tripv1.TripStatus_TRIP_STATUS_CANCELLED:       billing.MainStatusCancelled,
}

// tripSummary reads a trip: the amount is the final fare once known, else the estimate.
func tripSummary(provider string, t *tripv1.Trip) billing.Summary {
	s := billing.Summary{
		Provider: provider, ReservationID: t.GetId(), Kind: billing.Kind(reservationv1.Kind_KIND_RIDE),
		CustomerID: t.GetCustomerId(), MainStatus: tripStatus[t.GetStatus()], SubStatus: t.GetSubStatus(),
		Version: t.GetVersion(), UpdateTime: ts(t.GetUpdateTime().AsTime(), t.GetUpdateTime() != nil),
	}
	m := t.GetFinalFare()
	if m.GetCurrencyCode() == "" {
		m = t.GetEstimate()
	}
	if m.GetCurrencyCode() != "" {
		s.Amount = money.Money{Amount: m.GetAmountMinor(), Currency: m.GetCurrencyCode()}
	}
	return s
}

func ts(t time.Time, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
