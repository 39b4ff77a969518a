package faregrpc

import (
	"context"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/services/fare/fare"
)

// QuoteRide implements farev1.FareServiceServer.
func (s *Server) QuoteRide(ctx context.Context, req *farev1.QuoteRideRequest) (*farev1.QuoteRideResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	q, err := s.svc.QuoteRide(ctx, rideQuoteFromProto(req))
	if err != nil {
		return nil, toStatus(err)
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
		return nil, toStatus(err)
	}
	return &farev1.GetSurgeResponse{Surge: surgeToProto(z)}, nil
}

// ListSurges implements farev1.FareServiceServer.
func (s *Server) ListSurges(ctx context.Context, req *farev1.ListSurgesRequest) (*farev1.ListSurgesResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	size, err := fare.PageSize("page_size", req.GetPageSize())
	if err != nil {
		return nil, toStatus(err)
	}
	after, err := decodeToken(req.GetPageToken(), "zone")
	if err != nil {
		return nil, toStatus(err)
	}
	zones, next, err := s.svc.ListSurges(ctx, req.GetCity(), after, size)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &farev1.ListSurgesResponse{NextPageToken: encodeToken("zone", next)}
	for _, z := range zones {
		resp.Surges = append(resp.Surges, surgeToProto(z))
	}
	return resp, nil
}

// SetSurge implements farev1.FareServiceServer.
func (s *Server) SetSurge(ctx context.Context, req *farev1.SetSurgeRequest) (*farev1.SetSurgeResponse, error) {
	id, err := requireWriter(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetSurge() == nil {
		return nil, toStatus(fare.Invalid("surge", "required"))
	}
	in, err := surgeFromProto(req.GetSurge())
	if err != nil {
		return nil, toStatus(err)
	}
	z, err := s.svc.SetSurge(ctx, id.Subject, in, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &farev1.SetSurgeResponse{Surge: surgeToProto(z)}, nil
}
