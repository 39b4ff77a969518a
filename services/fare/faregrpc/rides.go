package faregrpc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/fare/fare"
)

// CalculateRideFare implements farev1.FareServiceServer.
func (s *Server) CalculateRideFare(ctx context.Context, req *farev1.CalculateRideFareRequest) (*farev1.CalculateRideFareResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	in := fare.CalculateInput{
		TripID: req.GetTripId(), CustomerID: req.GetCustomerId(), City: req.GetCity(), Product: req.GetProduct(),
		DistanceMeters: req.GetDistanceMeters(), DurationSeconds: req.GetDurationSeconds(), QuoteID: req.GetQuoteId(),
	}
	if req.GetRequestTime() != nil {
		if err := req.GetRequestTime().CheckValid(); err != nil {
			return nil, errs.Invalid("request_time", "is not a valid timestamp")
		}
		in.RequestTime = req.GetRequestTime().AsTime()
	}
	f, err := s.svc.CalculateRideFare(ctx, c, in, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &farev1.CalculateRideFareResponse{Fare: fareToProto(f)}, nil
}

// GetFare implements farev1.FareServiceServer.
func (s *Server) GetFare(ctx context.Context, req *farev1.GetFareRequest) (*farev1.GetFareResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	f, state, err := s.svc.GetFare(ctx, c, req.GetTripId())
	if err != nil {
		return nil, err
	}
	resp := &farev1.GetFareResponse{State: farev1.FareState(state)}
	if state == fare.FareStateCalculated {
		resp.Fare = fareToProto(f)
	}
	return resp, nil
}

// ListFares implements farev1.FareServiceServer.
func (s *Server) ListFares(ctx context.Context, req *farev1.ListFaresRequest) (*farev1.ListFaresResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	f := fare.FareFilter{CustomerID: req.GetCustomerId(), City: req.GetCity()}
	if r := req.GetCreateTimeRange(); r != nil {
		if r.GetStartTime() != nil {
			if err := r.GetStartTime().CheckValid(); err != nil {
				return nil, errs.Invalid("create_time_range.start_time", "is not a valid timestamp")
			}
			f.From = r.GetStartTime().AsTime()
		}
		if r.GetEndTime() != nil {
			if err := r.GetEndTime().CheckValid(); err != nil {
				return nil, errs.Invalid("create_time_range.end_time", "is not a valid timestamp")
			}
			f.To = r.GetEndTime().AsTime()
		}
	}
	p, err := s.svc.ListFares(ctx, c, f, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	resp := &farev1.ListFaresResponse{NextPageToken: p.NextPageToken}
	for _, f := range p.Fares {
		resp.Fares = append(resp.Fares, fareToProto(f))
	}
	return resp, nil
}

// fareToProto converts a fare.
func fareToProto(f fare.Fare) *farev1.Fare {
	out := &farev1.Fare{
		TripId: f.TripID, CustomerId: f.CustomerID, City: f.City, Product: f.Product,
		DistanceMeters: f.DistanceMeters, DurationSeconds: f.DurationSeconds, DistanceSource: f.DistanceSource,
		RateCardId: f.RateCardID, RateVersion: f.RateVersion, SurgeMultiplierBps: f.SurgeBps, QuoteId: f.QuoteID,
		Total:       moneyToProto(f.Total.Amount, f.Total.Currency),
		RequestTime: timeToProto(f.RequestTime), CreateTime: timeToProto(f.CreateTime), UpdateTime: timeToProto(f.CreateTime),
		Version: 1,
	}
	for _, l := range f.Lines {
		out.Lines = append(out.Lines, &farev1.PriceLine{Code: l.Code, Description: l.Description, Amount: moneyToProto(l.Amount, f.Total.Currency)})
	}
	return out
}

// FareEvent is the payload of fare.fare.calculated (farepg.Options.FareEvent).
func FareEvent(f fare.Fare) proto.Message { return &farev1.FareEvent{Fare: fareToProto(f)} }

// The event types fare consumes.
const (
	// TripEnded and TripCancelled are trip's events (source "trip") fare prices.
	TripEnded     = "trip.trip.ended"
	TripCancelled = "trip.trip.cancelled"
	// ZoneSupplyDemand is matching's event (source "matching") of a zone's counts.
	ZoneSupplyDemand = "matching.zone.supply_demand"
)

// TripRecord reads trip's trip.trip.ended or trip.trip.cancelled event (payload
// waybill.trip.v1.TripEvent). It returns ok false for another event type, and an
// INVALID_ARGUMENT error for a payload it cannot read (the consumer parks the event).
func TripRecord(ev *eventsv1.Event) (rec fare.TripRecord, ok bool, err error) {
	if ev.GetType() != TripEnded && ev.GetType() != TripCancelled {
		return fare.TripRecord{}, false, nil
	}
	var te tripv1.TripEvent
	if ev.GetPayload() == nil || ev.GetPayload().UnmarshalTo(&te) != nil || te.GetTrip() == nil {
		return fare.TripRecord{}, false, errs.Invalid("payload", "event %s (%s) carries no waybill.trip.v1.TripEvent", ev.GetId(), ev.GetType())
	}
	t := te.GetTrip()
	rec = fare.TripRecord{
		TripID: t.GetId(), CustomerID: t.GetCustomerId(), City: t.GetCity(), Product: t.GetProduct(), QuoteID: t.GetQuoteId(),
		Pickup: pointFromProto(t.GetPickup()), Dropoff: pointFromProto(t.GetDropoff()), ActualDropoff: pointFromProto(t.GetActualDropoff()),
		ReportedDistanceMeters: t.GetDistanceMeters(), ReportedDurationSeconds: t.GetDurationSeconds(),
	}
	if rec.TripID == "" {
		rec.TripID = ev.GetKey()
	}
	if t.GetCreateTime() != nil {
		rec.RequestTime = micros(t.GetCreateTime().AsTime())
	}
	if t.GetStartTime() != nil {
		rec.StartTime = micros(t.GetStartTime().AsTime())
	}
	if t.GetEndTime() != nil {
		rec.EndTime = micros(t.GetEndTime().AsTime())
	}
	if t.GetAssignTime() != nil {
		rec.AssignTime = micros(t.GetAssignTime().AsTime())
	}
	for _, p := range t.GetRoute() {
		if p.GetPoint() == nil || p.GetTime() == nil {
			continue
		}
		rec.Route = append(rec.Route, fare.RoutePoint{Point: *pointFromProto(p.GetPoint()), Time: micros(p.GetTime().AsTime())})
	}
	if ev.GetType() == TripCancelled || t.GetStatus() == tripv1.TripStatus_TRIP_STATUS_CANCELLED {
		rec.Cancelled = true
		rec.FeeDue = t.GetSubStatus() == fare.FeeDueSubStatus
		rec.CancelledBy = fare.CancelByOther
		if t.GetCancellation().GetActor() == tripv1.CancellationActor_CANCELLATION_ACTOR_RIDER {
			rec.CancelledBy = fare.CancelByRider
		}
		if ct := t.GetCancellation().GetCancelTime(); ct != nil {
			rec.CancelTime = micros(ct.AsTime())
		}
	}
	return rec, true, nil
}

// micros returns t in UTC at the microsecond precision PostgreSQL stores.
func micros(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// SupplyDemand reads matching's matching.zone.supply_demand event; ok is false for
// another event type.
func SupplyDemand(ev *eventsv1.Event) (fare.ZoneSupplyDemand, bool, error) {
	if ev.GetType() != ZoneSupplyDemand {
		return fare.ZoneSupplyDemand{}, false, nil
	}
	var z matchingv1.ZoneSupplyDemandEvent
	if ev.GetPayload() == nil || ev.GetPayload().UnmarshalTo(&z) != nil {
		return fare.ZoneSupplyDemand{}, false, errs.Invalid("payload", "event %s carries no waybill.matching.v1.ZoneSupplyDemandEvent", ev.GetId())
	}
	out := fare.ZoneSupplyDemand{Zone: z.GetZone(), AvailableDrivers: z.GetAvailableDrivers(), OpenRequests: z.GetOpenRequests()}
	if out.Zone == "" {
		out.Zone = ev.GetKey()
	}
	if c := z.GetCenter(); c != nil {
		out.Center = fare.GeoPoint{Latitude: c.GetLatitude(), Longitude: c.GetLongitude()}
	}
	if z.GetAsOf() != nil {
		out.AsOf = z.GetAsOf().AsTime()
	} else if ev.GetOccurredTime() != nil {
		out.AsOf = ev.GetOccurredTime().AsTime()
	}
	if out.AvailableDrivers < 0 || out.OpenRequests < 0 {
		return fare.ZoneSupplyDemand{}, false, fmt.Errorf("event %s: negative counts", ev.GetId())
	}
	return out, true, nil
}
