package matchinggrpc

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/matching/matching"
)

// This file is the only place where generated types meet the matching domain's.

// timestamp converts a time, unset for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func pointOut(p matching.Point) *typev1.GeoPoint {
	return &typev1.GeoPoint{Latitude: p.Lat, Longitude: p.Lng}
}

func pointIn(p *typev1.GeoPoint) *matching.Point {
	if p == nil {
		return nil
	}
	return &matching.Point{Lat: p.GetLatitude(), Lng: p.GetLongitude()}
}

func driverOut(d matching.Driver) *matchingv1.Driver {
	out := &matchingv1.Driver{
		Id:   d.ID,
		Name: d.Name,
		Vehicle: &matchingv1.Vehicle{
			Plate: d.Vehicle.Plate, Model: d.Vehicle.Model, Products: d.Vehicle.Products,
		},
		City:           d.City,
		Status:         matchingv1.DriverStatus(d.Status),
		SubStatus:      d.SubStatus,
		CurrentMatchId: d.CurrentMatchID,
		CurrentTripId:  d.CurrentTripID,
		CreateTime:     timestamp(d.CreateTime),
		UpdateTime:     timestamp(d.UpdateTime),
		Version:        d.Version,
	}
	if d.Location != nil {
		out.LastLocation = pointOut(d.Location.Point)
		out.LastLocationTime = timestamp(d.Location.Time)
	}
	return out
}

func driversOut(ds []matching.Driver) []*matchingv1.Driver {
	out := make([]*matchingv1.Driver, len(ds))
	for i, d := range ds {
		out[i] = driverOut(d)
	}
	return out
}

// driverIn converts the fields of a driver a caller may set (and the id and version an
// update names); output-only fields are ignored.
func driverIn(d *matchingv1.Driver) matching.Driver {
	v := d.GetVehicle()
	return matching.Driver{
		ID:        d.GetId(),
		Name:      d.GetName(),
		City:      d.GetCity(),
		SubStatus: d.GetSubStatus(),
		Version:   d.GetVersion(),
		Vehicle:   matching.Vehicle{Plate: v.GetPlate(), Model: v.GetModel(), Products: v.GetProducts()},
	}
}

// statusIn converts a status filter; ok is false for a value the contract does not
// define.
func statusIn(s matchingv1.DriverStatus) (matching.Status, bool) {
	st := matching.Status(s)
	return st, st == matching.StatusUnspecified || st.Valid()
}

// fixIn converts a location fix; a missing one, or a part that cannot be converted, is an
// error naming its field (field is the fix's path in the request). The values
// themselves are the domain's to check.
func fixIn(field string, l *matchingv1.LocationUpdate) (matching.Fix, error) {
	if l == nil {
		return matching.Fix{}, errs.Invalid(field, "is required")
	}
	if l.GetPoint() == nil {
		return matching.Fix{}, errs.Invalid(field+".point", "is required")
	}
	ts := l.GetFixTime()
	if ts == nil {
		return matching.Fix{}, errs.Invalid(field+".fix_time", "is required")
	}
	if err := ts.CheckValid(); err != nil {
		return matching.Fix{}, errs.Invalid(field+".fix_time", "is not a valid timestamp")
	}
	return matching.Fix{
		Point:          *pointIn(l.GetPoint()),
		Time:           ts.AsTime(),
		AccuracyMeters: l.GetAccuracyMeters(),
		HeadingDegrees: l.GetHeadingDegrees(),
		SpeedMPS:       l.GetSpeedMetersPerSecond(),
	}, nil
}

func nearbyOut(ns []matching.Nearby) []*matchingv1.NearbyDriver {
	out := make([]*matchingv1.NearbyDriver, len(ns))
	for i, n := range ns {
		out[i] = &matchingv1.NearbyDriver{
			Driver:         driverOut(n.Driver),
			DistanceMeters: int32(math.Round(n.DistanceMeters)),
			EtaSeconds:     n.ETASeconds,
		}
	}
	return out
}

// EventPayload builds the payload message of a matching event; the store emits it with
// the change (matchingpg.Options.Encode).
func EventPayload(ev matching.Event) (proto.Message, error) {
	switch ev.Type {
	case matching.EventTypeDriverAvailabilityChanged:
		return &matchingv1.DriverAvailabilityChangedEvent{
			Driver:         driverOut(ev.Driver),
			PreviousStatus: matchingv1.DriverStatus(ev.Previous),
		}, nil
	case matching.EventTypeDriverAssigned:
		return &matchingv1.DriverAssignedEvent{Match: matchOut(ev.Match), Driver: driverOut(ev.Driver), Offer: offerOut(ev.Offer)}, nil
	case matching.EventTypeDriverReleased:
		return &matchingv1.DriverReleasedEvent{Driver: driverOut(ev.Driver), TripId: ev.TripID, MatchId: ev.MatchID, Reason: ev.Reason}, nil
	case matching.EventTypeMatchFailed:
		return &matchingv1.MatchFailedEvent{Match: matchOut(ev.Match)}, nil
	case matching.EventTypeZoneSupplyDemand:
		return zoneOut(ev.Zone), nil
	}
	return nil, fmt.Errorf("matching: no payload for event type %q", ev.Type)
}

// matchIn converts a CreateMatch request; an offer_timeout that is no valid duration is
// an error naming it. The values themselves are the domain's to check.
func matchIn(req *matchingv1.CreateMatchRequest) (matching.MatchInput, error) {
	in := matching.MatchInput{
		TripID: req.GetTripId(), Pickup: pointIn(req.GetPickup()), Product: req.GetProduct(),
		MaxAttempts: req.GetMaxAttempts(), SearchRadius: req.GetSearchRadiusMeters(), FanOut: req.GetFanOut(),
		DriverID: req.GetDriverId(),
	}
	if t := req.GetOfferTimeout(); t != nil {
		if err := t.CheckValid(); err != nil {
			return matching.MatchInput{}, errs.Invalid("offer_timeout", "is not a valid duration")
		}
		d := t.AsDuration()
		in.OfferTimeout = &d
	}
	return in, nil
}

// matchOut converts a match; its offers are set only when the domain read them.
func matchOut(m matching.Match) *matchingv1.Match {
	out := &matchingv1.Match{
		Id:                 m.ID,
		TripId:             m.TripID,
		Pickup:             pointOut(m.Pickup),
		Product:            m.Product,
		Status:             matchingv1.MatchStatus(m.Status),
		SubStatus:          m.SubStatus,
		DriverId:           m.DriverID,
		AttemptCount:       m.AttemptCount,
		MaxAttempts:        m.MaxAttempts,
		FanOut:             m.FanOut,
		OfferTimeout:       durationpb.New(m.OfferTimeout),
		SearchRadiusMeters: m.SearchRadius,
		RequestedDriverId:  m.RequestedDriverID,
		FailureReason:      matchingv1.MatchFailureReason(m.FailureReason),
		CancelReason:       m.CancelReason,
		AssignTime:         timestamp(m.AssignTime),
		CreateTime:         timestamp(m.CreateTime),
		UpdateTime:         timestamp(m.UpdateTime),
		Version:            m.Version,
	}
	for _, o := range m.Offers {
		out.Offers = append(out.Offers, offerOut(o))
	}
	return out
}

func offerOut(o matching.Offer) *matchingv1.Offer {
	return &matchingv1.Offer{
		Id:             o.ID,
		MatchId:        o.MatchID,
		TripId:         o.TripID,
		DriverId:       o.DriverID,
		Pickup:         pointOut(o.Pickup),
		Product:        o.Product,
		Status:         matchingv1.OfferStatus(o.Status),
		Attempt:        o.Attempt,
		DistanceMeters: o.DistanceMeters,
		EtaSeconds:     o.ETASeconds,
		ExpireTime:     timestamp(o.ExpireTime),
		ResolveTime:    timestamp(o.ResolveTime),
		DeclineReason:  o.DeclineReason,
		CreateTime:     timestamp(o.CreateTime),
		UpdateTime:     timestamp(o.UpdateTime),
		Version:        o.Version,
	}
}

func zoneOut(z matching.ZoneCount) *matchingv1.ZoneSupplyDemandEvent {
	return &matchingv1.ZoneSupplyDemandEvent{
		Zone: z.Zone, Center: pointOut(z.Center), AvailableDrivers: z.AvailableDrivers, OpenRequests: z.OpenRequests,
		AsOf: timestamp(z.AsOf),
	}
}
