package matchinggrpc

import (
	"context"

	"google.golang.org/grpc"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/matching/matching"
)

// CreateMatch implements matchingv1.MatchingServiceServer.
func (s *Server) CreateMatch(ctx context.Context, req *matchingv1.CreateMatchRequest) (*matchingv1.CreateMatchResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	in, err := matchIn(req)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.CreateMatch(ctx, c, in, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.CreateMatchResponse{Match: matchOut(m)}, nil
}

// GetMatch implements matchingv1.MatchingServiceServer: VIEW_FULL adds the offers.
func (s *Server) GetMatch(ctx context.Context, req *matchingv1.GetMatchRequest) (*matchingv1.GetMatchResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := typev1.View_name[int32(req.GetView())]; !ok {
		return nil, errs.Invalid("view", "is not a known view")
	}
	m, err := s.svc.GetMatch(ctx, c, req.GetMatchId(), req.GetView() == typev1.View_VIEW_FULL)
	if err != nil {
		return nil, err
	}
	return &matchingv1.GetMatchResponse{Match: matchOut(m)}, nil
}

// CancelMatch implements matchingv1.MatchingServiceServer.
func (s *Server) CancelMatch(ctx context.Context, req *matchingv1.CancelMatchRequest) (*matchingv1.CancelMatchResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.CancelMatch(ctx, c, req.GetMatchId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.CancelMatchResponse{Match: matchOut(m)}, nil
}

// SetMatchSubStatus implements matchingv1.MatchingServiceServer.
func (s *Server) SetMatchSubStatus(ctx context.Context, req *matchingv1.SetMatchSubStatusRequest) (*matchingv1.SetMatchSubStatusResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.SetMatchSubStatus(ctx, c, req.GetMatchId(), req.GetSubStatus(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.SetMatchSubStatusResponse{Match: matchOut(m)}, nil
}

// WatchDriverOffers implements matchingv1.MatchingServiceServer.
func (s *Server) WatchDriverOffers(req *matchingv1.WatchDriverOffersRequest, stream grpc.ServerStreamingServer[matchingv1.WatchDriverOffersResponse]) error {
	ctx := stream.Context()
	c, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	err = s.svc.WatchOffers(ctx, c, req.GetDriverId(), func(o *matching.Offer) error {
		if o == nil {
			return stream.Send(&matchingv1.WatchDriverOffersResponse{Heartbeat: true})
		}
		return stream.Send(&matchingv1.WatchDriverOffersResponse{Offer: offerOut(*o)})
	})
	if ctx.Err() != nil {
		return nil // the client went away
	}
	return err
}

// AcceptOffer implements matchingv1.MatchingServiceServer.
func (s *Server) AcceptOffer(ctx context.Context, req *matchingv1.AcceptOfferRequest) (*matchingv1.AcceptOfferResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.AcceptOffer(ctx, c, req.GetOfferId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.AcceptOfferResponse{Offer: offerOut(a.Offer), Match: matchOut(a.Match)}, nil
}

// DeclineOffer implements matchingv1.MatchingServiceServer.
func (s *Server) DeclineOffer(ctx context.Context, req *matchingv1.DeclineOfferRequest) (*matchingv1.DeclineOfferResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.svc.DeclineOffer(ctx, c, req.GetOfferId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.DeclineOfferResponse{Offer: offerOut(o)}, nil
}

// ReleaseDriver implements matchingv1.MatchingServiceServer.
func (s *Server) ReleaseDriver(ctx context.Context, req *matchingv1.ReleaseDriverRequest) (*matchingv1.ReleaseDriverResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.svc.ReleaseDriver(ctx, c, req.GetDriverId(), req.GetTripId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.ReleaseDriverResponse{Driver: driverOut(d)}, nil
}
