// Package matchinggrpc is the matching service's gRPC transport, and only that: handlers
// that authenticate, convert, call the matching domain and convert back. Errors are the
// domain's (kit/errs); kit/grpcserver's interceptor turns them into statuses, once.
// The matching service owns drivers' availability and live location, and finding a
// driver for a ride; matchingapp wires it.
package matchinggrpc

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/matching/matching"
)

// Server implements matchingv1.MatchingServiceServer on the matching domain service:
// drivers and locations here, matches and offers in matches.go.
type Server struct {
	matchingv1.UnimplementedMatchingServiceServer
	svc *matching.Service
}

// New returns a server on svc.
func New(svc *matching.Service) *Server { return &Server{svc: svc} }

// CreateDriver implements matchingv1.MatchingServiceServer.
func (s *Server) CreateDriver(ctx context.Context, req *matchingv1.CreateDriverRequest) (*matchingv1.CreateDriverResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetDriver() == nil {
		return nil, errs.Invalid("driver", "is required")
	}
	if req.GetDriver().GetVehicle() == nil {
		return nil, errs.Invalid("driver.vehicle", "is required")
	}
	d, err := s.svc.CreateDriver(ctx, c, driverIn(req.GetDriver()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.CreateDriverResponse{Driver: driverOut(d)}, nil
}

// GetDriver implements matchingv1.MatchingServiceServer.
func (s *Server) GetDriver(ctx context.Context, req *matchingv1.GetDriverRequest) (*matchingv1.GetDriverResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.svc.GetDriver(ctx, c, req.GetDriverId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.GetDriverResponse{Driver: driverOut(d)}, nil
}

// ListDrivers implements matchingv1.MatchingServiceServer.
func (s *Server) ListDrivers(ctx context.Context, req *matchingv1.ListDriversRequest) (*matchingv1.ListDriversResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	status, ok := statusIn(req.GetStatus())
	if !ok {
		return nil, errs.Invalid("status", "is not a known driver status")
	}
	p, err := s.svc.ListDrivers(ctx, c, matching.DriverFilter{City: req.GetCity(), Status: status}, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &matchingv1.ListDriversResponse{Drivers: driversOut(p.Drivers), NextPageToken: p.NextPageToken}, nil
}

// UpdateDriver implements matchingv1.MatchingServiceServer.
func (s *Server) UpdateDriver(ctx context.Context, req *matchingv1.UpdateDriverRequest) (*matchingv1.UpdateDriverResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetDriver() == nil {
		return nil, errs.Invalid("driver", "is required")
	}
	if req.GetUpdateMask() == nil {
		return nil, errs.Invalid("update_mask", "is required")
	}
	d, err := s.svc.UpdateDriver(ctx, c, driverIn(req.GetDriver()), req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.UpdateDriverResponse{Driver: driverOut(d)}, nil
}

// SetDriverAvailability implements matchingv1.MatchingServiceServer.
func (s *Server) SetDriverAvailability(ctx context.Context, req *matchingv1.SetDriverAvailabilityRequest) (*matchingv1.SetDriverAvailabilityResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.svc.SetDriverAvailability(ctx, c, req.GetDriverId(), req.GetOnline(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.SetDriverAvailabilityResponse{Driver: driverOut(d)}, nil
}

// UpdateDriverLocation implements matchingv1.MatchingServiceServer.
func (s *Server) UpdateDriverLocation(ctx context.Context, req *matchingv1.UpdateDriverLocationRequest) (*matchingv1.UpdateDriverLocationResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	f, err := fixIn("location", req.GetLocation())
	if err != nil {
		return nil, err
	}
	got, err := s.svc.UpdateLocation(ctx, c, req.GetDriverId(), f)
	if err != nil {
		return nil, err
	}
	return &matchingv1.UpdateDriverLocationResponse{
		Accepted:         got.Accepted,
		LastLocation:     pointOut(got.Last.Point),
		LastLocationTime: timestamp(got.Last.Time),
	}, nil
}

// StreamDriverLocations implements matchingv1.MatchingServiceServer: each message's fix
// is accepted or counted as rejected; the stream ends with an error only for a wrong
// driver id, a driver the caller may not act for, or an unknown driver.
func (s *Server) StreamDriverLocations(stream grpc.ClientStreamingServer[matchingv1.StreamDriverLocationsRequest, matchingv1.StreamDriverLocationsResponse]) error {
	ctx := stream.Context()
	c, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	ls := s.svc.LocationStream(c)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		var fix *matching.Fix
		if f, err := fixIn("location", req.GetLocation()); err == nil {
			fix = &f
		}
		if err := ls.Next(ctx, req.GetDriverId(), fix); err != nil {
			return err
		}
	}
	sum, err := ls.Summary(ctx)
	if err != nil {
		return err
	}
	resp := &matchingv1.StreamDriverLocationsResponse{AcceptedCount: sum.Accepted, RejectedCount: sum.Rejected}
	if sum.Last != nil {
		resp.LastLocation, resp.LastLocationTime = pointOut(sum.Last.Point), timestamp(sum.Last.Time)
	}
	return stream.SendAndClose(resp)
}

// SearchNearbyDrivers implements matchingv1.MatchingServiceServer.
func (s *Server) SearchNearbyDrivers(ctx context.Context, req *matchingv1.SearchNearbyDriversRequest) (*matchingv1.SearchNearbyDriversResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := s.svc.SearchNearby(ctx, c, matching.SearchInput{
		Pickup: pointIn(req.GetPickup()), RadiusMeters: req.GetRadiusMeters(), Product: req.GetProduct(), Limit: req.GetLimit(),
	})
	if err != nil {
		return nil, err
	}
	return &matchingv1.SearchNearbyDriversResponse{Drivers: nearbyOut(ns)}, nil
}
