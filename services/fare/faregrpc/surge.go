package faregrpc

import (
	"context"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
)

// QuoteRide implements farev1.FareServiceServer.
func (s *Server) QuoteRide(ctx context.Context, req *farev1.QuoteRideRequest) (*farev1.QuoteRideResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	q, err := s.svc.QuoteRide(ctx, rideQuoteFromProto(req))
	if err != nil {
		return nil, err
	}
	return &farev1.QuoteRideResponse{Quote: quoteToProto(q)}, nil
}

// GetSurge implements farev1.FareServiceServer.
func (s *Server) GetSurge(ctx context.Context, req *farev1.GetSurgeRequest) (*farev1.GetSurgeResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	z, err := s.svc.GetSurge(ctx, req.GetCity(), req.GetZone())
	if err != nil {
		return nil, err
	}
	return &farev1.GetSurgeResponse{Surge: surgeToProto(z)}, nil
}

// ListSurges implements farev1.FareServiceServer.
func (s *Server) ListSurges(ctx context.Context, req *farev1.ListSurgesRequest) (*farev1.ListSurgesResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	zones, next, err := s.svc.ListSurges(ctx, req.GetCity(), req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	resp := &farev1.ListSurgesResponse{NextPageToken: next}
	for _, z := range zones {
		resp.Surges = append(resp.Surges, surgeToProto(z))
	}
	return resp, nil
}

// SetSurge implements farev1.FareServiceServer.
func (s *Server) SetSurge(ctx context.Context, req *farev1.SetSurgeRequest) (*farev1.SetSurgeResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetSurge() == nil {
		return nil, errs.Invalid("surge", "is required")
	}
	in, err := surgeFromProto(req.GetSurge())
	if err != nil {
		return nil, err
	}
	z, err := s.svc.SetSurge(ctx, c, in, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &farev1.SetSurgeResponse{Surge: surgeToProto(z)}, nil
}
