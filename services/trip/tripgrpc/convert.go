package tripgrpc

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/trip/trip"
)

var statusToProto = map[trip.Status]tripv1.TripStatus{
	trip.StatusRequested:      tripv1.TripStatus_TRIP_STATUS_REQUESTED,
	trip.StatusDriverAssigned: tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED,
	trip.StatusStarted:        tripv1.TripStatus_TRIP_STATUS_STARTED,
	trip.StatusEnded:          tripv1.TripStatus_TRIP_STATUS_ENDED,
	trip.StatusCancelled:      tripv1.TripStatus_TRIP_STATUS_CANCELLED,
}

var actorToProto = map[trip.Actor]tripv1.CancellationActor{
	trip.ActorRider:    tripv1.CancellationActor_CANCELLATION_ACTOR_RIDER,
	trip.ActorDriver:   tripv1.CancellationActor_CANCELLATION_ACTOR_DRIVER,
	trip.ActorOperator: tripv1.CancellationActor_CANCELLATION_ACTOR_OPERATOR,
	trip.ActorSystem:   tripv1.CancellationActor_CANCELLATION_ACTOR_SYSTEM,
}

// statusFromProto returns the domain status of s; "" for UNSPECIFIED, ok false for a
// value the contract does not define.
func statusFromProto(s tripv1.TripStatus) (trip.Status, bool) {
	if s == tripv1.TripStatus_TRIP_STATUS_UNSPECIFIED {
		return "", true
	}
	for k, v := range statusToProto {
		if v == s {
			return k, true
		}
	}
	return "", false
}

// viewFromProto returns the domain view of v: BASIC for UNSPECIFIED; ok false for a
// value the contract does not define.
func viewFromProto(v typev1.View) (trip.View, bool) {
	switch v {
	case typev1.View_VIEW_UNSPECIFIED, typev1.View_VIEW_BASIC:
		return trip.ViewBasic, true
	case typev1.View_VIEW_STANDARD:
		return trip.ViewStandard, true
	case typev1.View_VIEW_FULL:
		return trip.ViewFull, true
	}
	return trip.ViewBasic, false
}

func pointFromProto(p *typev1.GeoPoint) *trip.Point {
	if p == nil {
		return nil
	}
	return &trip.Point{Lat: p.GetLatitude(), Lng: p.GetLongitude()}
}

func pointToProto(p trip.Point) *typev1.GeoPoint {
	return &typev1.GeoPoint{Latitude: p.Lat, Longitude: p.Lng}
}

func moneyToProto(m money.Money) *typev1.Money {
	return &typev1.Money{AmountMinor: m.Amount, CurrencyCode: m.Currency}
}

// ts returns t as a timestamp, nil for the zero time.
func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func routePointToProto(p trip.RoutePoint) *tripv1.RoutePoint {
	return &tripv1.RoutePoint{Point: pointToProto(p.Point), Time: ts(p.Time)}
}

// TripToProto converts t as it is: fields t lacks (a route it was read without, a
// timeline a view dropped) stay unset.
func TripToProto(t trip.Trip) *tripv1.Trip {
	out := &tripv1.Trip{
		Id: t.ID, CustomerId: t.CustomerID, Pickup: pointToProto(t.Pickup), Dropoff: pointToProto(t.Dropoff),
		Product: t.Product, City: t.City, Status: statusToProto[t.Status], SubStatus: t.SubStatus,
		DriverId: t.DriverID, MatchId: t.MatchID, Estimate: moneyToProto(t.Estimate), QuoteId: t.QuoteID,
		DistanceMeters: t.DistanceMeters, DurationSeconds: t.DurationSeconds,
		AssignTime: ts(t.AssignTime), StartTime: ts(t.StartTime), EndTime: ts(t.EndTime),
		CreateTime: ts(t.CreateTime), UpdateTime: ts(t.UpdateTime), Version: t.Version,
	}
	if t.FinalFare != nil {
		out.FinalFare = moneyToProto(*t.FinalFare)
	}
	if t.ActualDropoff != nil {
		out.ActualDropoff = pointToProto(*t.ActualDropoff)
	}
	if t.LastRoutePoint != nil {
		out.LastRoutePoint = routePointToProto(*t.LastRoutePoint)
	}
	for _, p := range t.Route {
		out.Route = append(out.Route, routePointToProto(p))
	}
	if c := t.Cancellation; c != nil {
		out.Cancellation = &tripv1.TripCancellation{Actor: actorToProto[c.Actor], ActorId: c.ActorID, Reason: c.Reason, CancelTime: ts(c.Time)}
	}
	for _, e := range t.Timeline {
		out.Timeline = append(out.Timeline, &reservationv1.TimelineEntry{Time: ts(e.Time), Label: e.Label})
	}
	return out
}

// TripEvent builds the payload of an event about t (trippg.Options.TripEvent): the trip
// in VIEW_FULL, with its route only when it was read with one (trip.trip.ended).
func TripEvent(t trip.Trip, previous trip.Status) proto.Message {
	return &tripv1.TripEvent{Trip: TripToProto(t), PreviousStatus: statusToProto[previous]}
}
