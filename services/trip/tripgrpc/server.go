// Package tripgrpc is the trip service's gRPC transport, and only that: handlers that
// authenticate, convert, call the trip domain and convert back. Errors are the domain's
// (kit/errs); kit/grpcserver's interceptor turns them into statuses, once. The trip
// service owns the ride lifecycle and the record of what actually happened; tripapp
// wires it.
package tripgrpc

import (
	"context"
	"time"

	"google.golang.org/grpc"

	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/trip/trip"
)

// Options configures a Server.
type Options struct {
	// Heartbeat is WatchTrip's heartbeat interval while idle; 15 s when 0.
	Heartbeat time.Duration
	// Poll is how often WatchTrip re-reads the trip in case a change was not announced
	// in this process (another replica made it); 5 s when 0. Changes this process makes
	// are announced after their commit (trip.Hub), so the poll is only that fallback, and
	// it is what every open watch costs the database while idle.
	Poll time.Duration
}

// Server implements tripv1.TripServiceServer on the trip domain service.
type Server struct {
	tripv1.UnimplementedTripServiceServer
	svc  *trip.Service
	opts Options
}

// New returns a server on svc.
func New(svc *trip.Service, opts Options) *Server {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	return &Server{svc: svc, opts: opts}
}

// RequestTrip implements tripv1.TripServiceServer.
func (s *Server) RequestTrip(ctx context.Context, req *tripv1.RequestTripRequest) (*tripv1.RequestTripResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.Request(ctx, c, trip.RequestInput{
		CustomerID: req.GetCustomerId(), Pickup: pointFromProto(req.GetPickup()), Dropoff: pointFromProto(req.GetDropoff()),
		Product: req.GetProduct(), City: req.GetCity(), RequestID: req.GetRequestId(),
	})
	if err != nil {
		return nil, err
	}
	return &tripv1.RequestTripResponse{Trip: TripToProto(t)}, nil
}

// GetTrip implements tripv1.TripServiceServer.
func (s *Server) GetTrip(ctx context.Context, req *tripv1.GetTripRequest) (*tripv1.GetTripResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	view, ok := viewFromProto(req.GetView())
	if !ok {
		return nil, errs.Invalid("view", "is not a known view")
	}
	t, err := s.svc.Get(ctx, c, req.GetTripId(), view)
	if err != nil {
		return nil, err
	}
	return &tripv1.GetTripResponse{Trip: TripToProto(t)}, nil
}

// ListTrips implements tripv1.TripServiceServer.
func (s *Server) ListTrips(ctx context.Context, req *tripv1.ListTripsRequest) (*tripv1.ListTripsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	view, ok := viewFromProto(req.GetView())
	if !ok {
		return nil, errs.Invalid("view", "is not a known view")
	}
	status, ok := statusFromProto(req.GetStatus())
	if !ok {
		return nil, errs.Invalid("status", "is not a known status")
	}
	p, err := s.svc.List(ctx, c, trip.Filter{CustomerID: req.GetCustomerId(), DriverID: req.GetDriverId(), Status: status},
		view, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	resp := &tripv1.ListTripsResponse{NextPageToken: p.NextPageToken}
	for _, t := range p.Trips {
		resp.Trips = append(resp.Trips, TripToProto(t))
	}
	return resp, nil
}

// AssignDriver implements tripv1.TripServiceServer.
func (s *Server) AssignDriver(ctx context.Context, req *tripv1.AssignDriverRequest) (*tripv1.AssignDriverResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.Assign(ctx, c, trip.AssignInput{TripID: req.GetTripId(), DriverID: req.GetDriverId(),
		MatchID: req.GetMatchId(), RequestID: req.GetRequestId()})
	if err != nil {
		return nil, err
	}
	return &tripv1.AssignDriverResponse{Trip: TripToProto(t)}, nil
}

// StartTrip implements tripv1.TripServiceServer.
func (s *Server) StartTrip(ctx context.Context, req *tripv1.StartTripRequest) (*tripv1.StartTripResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.Start(ctx, c, req.GetTripId(), pointFromProto(req.GetLocation()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &tripv1.StartTripResponse{Trip: TripToProto(t)}, nil
}

// RecordTripLocation implements tripv1.TripServiceServer.
func (s *Server) RecordTripLocation(ctx context.Context, req *tripv1.RecordTripLocationRequest) (*tripv1.RecordTripLocationResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	points := make([]trip.PointInput, len(req.GetPoints()))
	for i, p := range req.GetPoints() {
		points[i].Point = pointFromProto(p.GetPoint())
		if p.GetTime() != nil {
			points[i].Time = p.GetTime().AsTime()
		}
	}
	accepted, ignored, t, err := s.svc.RecordLocations(ctx, c, req.GetTripId(), points)
	if err != nil {
		return nil, err
	}
	resp := &tripv1.RecordTripLocationResponse{AcceptedCount: int32(accepted), IgnoredCount: int32(ignored)}
	if t.LastRoutePoint != nil {
		resp.LastRoutePoint = routePointToProto(*t.LastRoutePoint)
	}
	return resp, nil
}

// EndTrip implements tripv1.TripServiceServer.
func (s *Server) EndTrip(ctx context.Context, req *tripv1.EndTripRequest) (*tripv1.EndTripResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.End(ctx, c, trip.EndInput{TripID: req.GetTripId(), Dropoff: pointFromProto(req.GetDropoff()),
		DistanceMeters: req.DistanceMeters, DurationSeconds: req.DurationSeconds, RequestID: req.GetRequestId()})
	if err != nil {
		return nil, err
	}
	t.Route = nil // the response is the trip in its basic view
	return &tripv1.EndTripResponse{Trip: TripToProto(t)}, nil
}

// CancelTrip implements tripv1.TripServiceServer.
func (s *Server) CancelTrip(ctx context.Context, req *tripv1.CancelTripRequest) (*tripv1.CancelTripResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.Cancel(ctx, c, req.GetTripId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &tripv1.CancelTripResponse{Trip: TripToProto(t)}, nil
}

// SetTripSubStatus implements tripv1.TripServiceServer.
func (s *Server) SetTripSubStatus(ctx context.Context, req *tripv1.SetTripSubStatusRequest) (*tripv1.SetTripSubStatusResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.SetSubStatus(ctx, c, req.GetTripId(), req.GetSubStatus(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &tripv1.SetTripSubStatusResponse{Trip: TripToProto(t)}, nil
}

// WatchTrip implements tripv1.TripServiceServer: the trip's current state, then its
// state after each change (announced in this process, or found by a re-read every
// Options.Poll), with heartbeats while idle, until a terminal state was sent.
func (s *Server) WatchTrip(req *tripv1.WatchTripRequest, stream grpc.ServerStreamingServer[tripv1.WatchTripResponse]) error {
	ctx := stream.Context()
	c, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	view, ok := viewFromProto(req.GetView())
	if !ok {
		return errs.Invalid("view", "is not a known view")
	}
	if err := ids.Check("trip_id", req.GetTripId()); err != nil {
		return err
	}
	var changed <-chan struct{}
	if hub := s.svc.Hub(); hub != nil {
		ch, stop := hub.Watch(req.GetTripId()) // before the first read: no change is missed
		defer stop()
		changed = ch
	}
	t, err := s.svc.Get(ctx, c, req.GetTripId(), view)
	if err != nil {
		return err
	}
	poll := time.NewTicker(s.opts.Poll)
	defer poll.Stop()
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	sent := int64(-1)
	for {
		if t.Version != sent {
			if err := stream.Send(&tripv1.WatchTripResponse{Trip: TripToProto(t)}); err != nil {
				return err
			}
			sent = t.Version
			beat.Reset(s.opts.Heartbeat)
			if trip.Terminal(t) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-beat.C:
			if err := stream.Send(&tripv1.WatchTripResponse{Heartbeat: true}); err != nil {
				return err
			}
			continue
		case <-changed:
		case <-poll.C:
		}
		if t, err = s.svc.Get(ctx, c, req.GetTripId(), view); err != nil {
			return err
		}
	}
}
