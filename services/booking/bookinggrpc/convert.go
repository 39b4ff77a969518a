package bookinggrpc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/booking/booking"
)

// This file is the only place where generated types meet booking's domain types. Enum
// values share their numbers on both sides (booking.Status and ReservationStatus,
// booking.Kind and reservation.v1.Kind, booking.Mode and TransportMode), and the shared
// MainStatus numbers booking's statuses the same way (HELD = PENDING, CHECKED_IN =
// IN_PROGRESS).

// callerOf returns the caller of a request: the verified token's identity, or the
// anonymous caller.
func callerOf(ctx context.Context) caller.Caller {
	id, _ := auth.FromContext(ctx)
	return id
}

// timeIn reads an optional timestamp; an invalid one is an error naming field.
func timeIn(ts *timestamppb.Timestamp, field string) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, errs.Invalid(field, "is not a valid timestamp")
	}
	return ts.AsTime(), nil
}

func timeOut(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func dateIn(d *typev1.Date) booking.Date {
	if d == nil {
		return booking.Date{}
	}
	return booking.Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())}
}

func dateOut(d booking.Date) *typev1.Date {
	if d.IsZero() {
		return nil
	}
	return &typev1.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
}

func moneyOut(m money.Money) *typev1.Money {
	return &typev1.Money{AmountMinor: m.Amount, CurrencyCode: m.Currency}
}

func policyIn(p *bookingv1.CancellationPolicy, field string) (booking.Policy, error) {
	var out booking.Policy
	for i, r := range p.GetRules() {
		d := r.GetMinNotice()
		if d == nil || d.CheckValid() != nil {
			return out, errs.Invalid(fmt.Sprintf("%s.rules[%d].min_notice", field, i), "is required and must be a valid duration")
		}
		out.Rules = append(out.Rules, booking.Rule{MinNotice: d.AsDuration(), RefundBps: int(r.GetRefundBps())})
	}
	return out, nil
}

func policyOut(p booking.Policy) *bookingv1.CancellationPolicy {
	out := &bookingv1.CancellationPolicy{}
	for _, r := range p.Rules {
		out.Rules = append(out.Rules, ruleOut(r))
	}
	return out
}

func ruleOut(r booking.Rule) *bookingv1.CancellationRule {
	return &bookingv1.CancellationRule{MinNotice: durationpb.New(r.MinNotice), RefundBps: int32(r.RefundBps)}
}

// departureIn converts a departure of a request; field is its request field.
func departureIn(d *bookingv1.Departure, field string) (*booking.Departure, error) {
	if d == nil {
		return nil, errs.Invalid(field, "is required")
	}
	dep, err := timeIn(d.GetDepartureTime(), field+".departure_time")
	if err != nil {
		return nil, err
	}
	arr, err := timeIn(d.GetArrivalTime(), field+".arrival_time")
	if err != nil {
		return nil, err
	}
	out := &booking.Departure{
		ID: d.GetId(), Mode: booking.Mode(d.GetMode()), Carrier: d.GetCarrier(), Number: d.GetNumber(),
		Origin: d.GetOrigin(), Destination: d.GetDestination(), DepartureTime: dep, ArrivalTime: arr,
		OriginTimeZone: d.GetOriginTimeZone(), SubStatus: d.GetSubStatus(), Version: d.GetVersion(),
	}
	for i, fc := range d.GetFareClasses() {
		p, err := policyIn(fc.GetCancellationPolicy(), fmt.Sprintf("%s.fare_classes[%d].cancellation_policy", field, i))
		if err != nil {
			return nil, err
		}
		out.FareClasses = append(out.FareClasses, booking.FareClass{
			Name: fc.GetName(), DisplayName: fc.GetDisplayName(), Capacity: int(fc.GetCapacity()), Policy: p,
		})
	}
	return out, nil
}

func departureOut(d *booking.Departure) *bookingv1.Departure {
	out := &bookingv1.Departure{
		Id: d.ID, Mode: bookingv1.TransportMode(d.Mode), Carrier: d.Carrier, Number: d.Number,
		Origin: d.Origin, Destination: d.Destination, DepartureTime: timeOut(d.DepartureTime),
		ArrivalTime: timeOut(d.ArrivalTime), OriginTimeZone: d.OriginTimeZone,
		Status: bookingv1.DepartureStatus(d.Status), SubStatus: d.SubStatus, CancelReason: d.CancelReason,
		CreateTime: timeOut(d.CreateTime), UpdateTime: timeOut(d.UpdateTime), Version: d.Version,
	}
	for _, fc := range d.FareClasses {
		out.FareClasses = append(out.FareClasses, &bookingv1.FareClass{
			Name: fc.Name, DisplayName: fc.DisplayName, Capacity: int32(fc.Capacity), SeatsHeld: int32(fc.Held),
			SeatsSold: int32(fc.Sold), SeatsAvailable: int32(fc.Available()), CancellationPolicy: policyOut(fc.Policy),
		})
	}
	return out
}

// propertyIn converts a property of a request; field is its request field.
func propertyIn(p *bookingv1.Property, field string) (*booking.Property, error) {
	if p == nil {
		return nil, errs.Invalid(field, "is required")
	}
	out := &booking.Property{
		ID: p.GetId(), Name: p.GetName(), City: p.GetCity(), Address: p.GetAddress(), TimeZone: p.GetTimeZone(),
		CheckInHour: int(p.GetCheckInHour()), CheckOutHour: int(p.GetCheckOutHour()), SubStatus: p.GetSubStatus(),
		Version: p.GetVersion(), Latitude: p.GetLocation().GetLatitude(), Longitude: p.GetLocation().GetLongitude(),
	}
	for i, rt := range p.GetRoomTypes() {
		pol, err := policyIn(rt.GetCancellationPolicy(), fmt.Sprintf("%s.room_types[%d].cancellation_policy", field, i))
		if err != nil {
			return nil, err
		}
		out.RoomTypes = append(out.RoomTypes, booking.RoomType{
			Name: rt.GetName(), DisplayName: rt.GetDisplayName(), NightlyCapacity: int(rt.GetNightlyCapacity()),
			MaxGuests: int(rt.GetMaxGuests()), Policy: pol,
		})
	}
	return out, nil
}

func propertyOut(p *booking.Property) *bookingv1.Property {
	out := &bookingv1.Property{
		Id: p.ID, Name: p.Name, City: p.City, Address: p.Address,
		Location: &typev1.GeoPoint{Latitude: p.Latitude, Longitude: p.Longitude}, TimeZone: p.TimeZone,
		CheckInHour: int32(p.CheckInHour), CheckOutHour: int32(p.CheckOutHour),
		Status: bookingv1.PropertyStatus(p.Status), SubStatus: p.SubStatus, CloseReason: p.CloseReason,
		CreateTime: timeOut(p.CreateTime), UpdateTime: timeOut(p.UpdateTime), Version: p.Version,
	}
	for _, rt := range p.RoomTypes {
		out.RoomTypes = append(out.RoomTypes, &bookingv1.RoomType{
			Name: rt.Name, DisplayName: rt.DisplayName, NightlyCapacity: int32(rt.NightlyCapacity),
			MaxGuests: int32(rt.MaxGuests), CancellationPolicy: policyOut(rt.Policy),
		})
	}
	return out
}

func quoteOut(q *booking.Quote) *bookingv1.PriceQuote {
	if q == nil {
		return nil
	}
	return &bookingv1.PriceQuote{
		TotalPrice: moneyOut(q.Total), UnitPrice: moneyOut(q.Unit), QuoteId: q.ID,
		RateCardId: q.RateCardID, RateVersion: q.RateVersion, ValidUntil: timeOut(q.ValidUntil),
	}
}

func travelerNames(ts []*bookingv1.Traveler) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.GetFullName()
	}
	return out
}

// holdIn converts a CreateReservationRequest.
func holdIn(req *bookingv1.CreateReservationRequest) (booking.HoldRequest, error) {
	r := req.GetReservation()
	if r == nil {
		return booking.HoldRequest{}, errs.Invalid("reservation", "is required")
	}
	h := booking.HoldRequest{
		CustomerID: r.GetCustomerId(), Quantity: int(r.GetQuantity()), Travelers: travelerNames(r.GetTravelers()),
		RequestID: req.GetRequestId(),
	}
	if d := req.GetHoldDuration(); d != nil {
		if d.CheckValid() != nil || d.AsDuration() <= 0 {
			return h, errs.Invalid("hold_duration", "must be 1 to 60 minutes")
		}
		h.HoldDuration = d.AsDuration()
	}
	if m := req.GetExpectedPrice(); m != nil {
		h.ExpectedPrice = &money.Money{Amount: m.GetAmountMinor(), Currency: m.GetCurrencyCode()}
	}
	switch item := r.GetItem().(type) {
	case *bookingv1.Reservation_Seat:
		h.Seat = &booking.SeatItem{DepartureID: item.Seat.GetDepartureId(), FareClass: item.Seat.GetFareClass()}
	case *bookingv1.Reservation_Stay:
		s := item.Stay
		h.Stay = &booking.StayItem{PropertyID: s.GetPropertyId(), RoomType: s.GetRoomType(),
			CheckIn: dateIn(s.GetCheckInDate()), CheckOut: dateIn(s.GetCheckOutDate()), GuestCount: int(s.GetGuestCount())}
	}
	return h, nil
}

// reservationOut converts a reservation for a reader asking for view: BASIC omits
// travellers and the policy, STANDARD adds them, FULL adds the history.
func reservationOut(r *booking.Reservation, view typev1.View) *bookingv1.Reservation {
	out := &bookingv1.Reservation{
		Id: r.ID, CustomerId: r.CustomerID, Kind: reservationv1.Kind(r.Kind), Quantity: int32(r.Quantity),
		Price: moneyOut(r.Price), RateCardId: r.RateCardID, RateVersion: r.RateVersion, QuoteId: r.QuoteID,
		Status: bookingv1.ReservationStatus(r.Status), SubStatus: r.SubStatus,
		ServicePeriod: &typev1.TimeRange{StartTime: timeOut(r.ServiceStart), EndTime: timeOut(r.ServiceEnd)},
		CreateTime:    timeOut(r.CreateTime), UpdateTime: timeOut(r.UpdateTime), Version: r.Version,
	}
	if r.Status == booking.StatusHeld {
		out.HoldExpireTime = timeOut(r.HoldExpireTime)
	}
	if s := r.Seat; s != nil {
		out.Item = &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{
			DepartureId: s.DepartureID, FareClass: s.FareClass, Mode: bookingv1.TransportMode(s.Mode),
			Carrier: s.Carrier, Number: s.Number, Origin: s.Origin, Destination: s.Destination,
			DepartureTime: timeOut(s.DepartureTime), ArrivalTime: timeOut(s.ArrivalTime),
		}}
	}
	if s := r.Stay; s != nil {
		out.Item = &bookingv1.Reservation_Stay{Stay: &bookingv1.StayItem{
			PropertyId: s.PropertyID, RoomType: s.RoomType, CheckInDate: dateOut(s.CheckIn),
			CheckOutDate: dateOut(s.CheckOut), GuestCount: int32(s.GuestCount), Nights: int32(s.Nights()),
			PropertyName: s.PropertyName, City: s.City,
		}}
	}
	if c := r.Cancellation; c != nil {
		out.Cancellation = &bookingv1.Cancellation{
			CancelTime: timeOut(c.Time), Reason: c.Reason, Actor: c.Actor,
			RefundableAmount: moneyOut(c.Refundable), CancellationFee: moneyOut(c.Fee(r.Price)),
		}
	}
	if view == typev1.View_VIEW_STANDARD || view == typev1.View_VIEW_FULL {
		for _, t := range r.Travelers {
			out.Travelers = append(out.Travelers, &bookingv1.Traveler{FullName: t})
		}
		out.CancellationPolicy = policyOut(r.Policy)
	}
	if view == typev1.View_VIEW_FULL {
		for _, h := range r.History {
			out.History = append(out.History, &bookingv1.StatusChange{
				Status: bookingv1.ReservationStatus(h.Status), SubStatus: h.SubStatus, Time: timeOut(h.Time),
				Actor: h.Actor, Reason: h.Reason,
			})
		}
	}
	return out
}

// detailsOut converts a reservation into the provider contract's envelope: BASIC has no
// timeline and no kind-specific details; STANDARD and FULL have both.
func detailsOut(r *booking.Reservation, view typev1.View) *reservationv1.ReservationDetails {
	out := &reservationv1.ReservationDetails{
		Id: r.ID, Kind: reservationv1.Kind(r.Kind), MainStatus: reservationv1.MainStatus(r.Status),
		SubStatus: r.SubStatus, CustomerId: r.CustomerID, Amount: moneyOut(r.Price),
		UpdateTime: timeOut(r.UpdateTime), Version: r.Version,
	}
	out.Title, out.Subtitle = titles(r)
	if view != typev1.View_VIEW_STANDARD && view != typev1.View_VIEW_FULL {
		return out
	}
	for _, h := range r.History {
		out.Timeline = append(out.Timeline, &reservationv1.TimelineEntry{Time: timeOut(h.Time), Label: h.Status.String(), Description: h.Reason})
	}
	if s := r.Seat; s != nil {
		out.KindDetails = &reservationv1.ReservationDetails_Seat{Seat: &reservationv1.SeatDetails{
			Carrier: s.Carrier, Number: s.Number, Origin: s.Origin, Destination: s.Destination,
			Schedule:  &typev1.TimeRange{StartTime: timeOut(s.DepartureTime), EndTime: timeOut(s.ArrivalTime)},
			FareClass: s.FareClass, SeatCount: int32(r.Quantity), PassengerNames: r.Travelers,
		}}
	}
	if s := r.Stay; s != nil {
		out.KindDetails = &reservationv1.ReservationDetails_Stay{Stay: &reservationv1.StayDetails{
			PropertyName: s.PropertyName, City: s.City, RoomType: s.RoomType, CheckInDate: dateOut(s.CheckIn),
			CheckOutDate: dateOut(s.CheckOut), RoomCount: int32(r.Quantity), GuestNames: r.Travelers,
		}}
	}
	return out
}

// titles returns the one-line title and subtitle of a reservation.
func titles(r *booking.Reservation) (string, string) {
	if s := r.Seat; s != nil {
		unit := "passengers"
		if r.Quantity == 1 {
			unit = "passenger"
		}
		return fmt.Sprintf("%s %s %s → %s", s.Carrier, s.Number, s.Origin, s.Destination),
			fmt.Sprintf("%s, %d %s, %s", s.DepartureTime.UTC().Format("2 Jan 2006 15:04 MST"), r.Quantity, unit, s.FareClass)
	}
	if s := r.Stay; s != nil {
		nights := s.Nights()
		return s.PropertyName, fmt.Sprintf("%s – %s, %d %s, %d × %s", s.CheckIn, s.CheckOut, nights,
			plural(nights, "night"), r.Quantity, s.RoomType)
	}
	return r.ID, ""
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// EventPayload is the outbox payload of a domain event: the full new state of the
// aggregate, as events.proto describes. Storage calls it (bookingpg.Options.Encode) to
// write booking's events.
func EventPayload(ev booking.Event) (proto.Message, error) {
	switch {
	case ev.Reservation != nil:
		prev := ev.Previous
		if strings.HasSuffix(ev.Type, ".held") {
			prev = booking.StatusUnspecified
		}
		return &bookingv1.ReservationEvent{
			Reservation:    reservationOut(ev.Reservation, typev1.View_VIEW_FULL),
			PreviousStatus: bookingv1.ReservationStatus(prev),
		}, nil
	case ev.Departure != nil:
		return &bookingv1.DepartureEvent{Departure: departureOut(ev.Departure)}, nil
	case ev.Property != nil:
		return &bookingv1.PropertyEvent{Property: propertyOut(ev.Property)}, nil
	}
	return nil, fmt.Errorf("event %s has no aggregate", ev.Type)
}

// actionResultsOut converts a batch action's results, in request order.
func actionResultsOut(rs []booking.ActionResult) []*reservationv1.ReservationActionResult {
	out := make([]*reservationv1.ReservationActionResult, len(rs))
	for i, r := range rs {
		res := &reservationv1.ReservationActionResult{Id: r.ID, Reason: r.Reason, Version: r.Version}
		switch r.Outcome {
		case booking.ActionOK:
			res.Outcome = reservationv1.ReservationActionResult_OUTCOME_OK
		case booking.ActionNotFound:
			res.Outcome = reservationv1.ReservationActionResult_OUTCOME_NOT_FOUND
		case booking.ActionFailedPrecondition:
			res.Outcome = reservationv1.ReservationActionResult_OUTCOME_FAILED_PRECONDITION
		}
		if r.Status != booking.StatusUnspecified {
			res.MainStatus = reservationv1.MainStatus(r.Status)
		}
		out[i] = res
	}
	return out
}
