package matchinggrpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
)

// errMatchesNotYet is the answer of every match and offer method: matching serves
// drivers, their locations and the nearby search so far.
func errMatchesNotYet(method string) error {
	return status.Errorf(codes.Unimplemented,
		"matching: %s is not implemented yet: matches and offers (CreateMatch, GetMatch, CancelMatch, SetMatchSubStatus, WatchDriverOffers, AcceptOffer, DeclineOffer, ReleaseDriver) are still to come; drivers, locations and SearchNearbyDrivers work", method)
}

// CreateMatch answers UNIMPLEMENTED: matches are not implemented yet.
func (s *Server) CreateMatch(context.Context, *matchingv1.CreateMatchRequest) (*matchingv1.CreateMatchResponse, error) {
	return nil, errMatchesNotYet("CreateMatch")
}

// GetMatch answers UNIMPLEMENTED: matches are not implemented yet.
func (s *Server) GetMatch(context.Context, *matchingv1.GetMatchRequest) (*matchingv1.GetMatchResponse, error) {
	return nil, errMatchesNotYet("GetMatch")
}

// CancelMatch answers UNIMPLEMENTED: matches are not implemented yet.
func (s *Server) CancelMatch(context.Context, *matchingv1.CancelMatchRequest) (*matchingv1.CancelMatchResponse, error) {
	return nil, errMatchesNotYet("CancelMatch")
}

// SetMatchSubStatus answers UNIMPLEMENTED: matches are not implemented yet.
func (s *Server) SetMatchSubStatus(context.Context, *matchingv1.SetMatchSubStatusRequest) (*matchingv1.SetMatchSubStatusResponse, error) {
	return nil, errMatchesNotYet("SetMatchSubStatus")
}

// WatchDriverOffers answers UNIMPLEMENTED: offers are not implemented yet.
func (s *Server) WatchDriverOffers(*matchingv1.WatchDriverOffersRequest, grpc.ServerStreamingServer[matchingv1.WatchDriverOffersResponse]) error {
	return errMatchesNotYet("WatchDriverOffers")
}

// AcceptOffer answers UNIMPLEMENTED: offers are not implemented yet.
func (s *Server) AcceptOffer(context.Context, *matchingv1.AcceptOfferRequest) (*matchingv1.AcceptOfferResponse, error) {
	return nil, errMatchesNotYet("AcceptOffer")
}

// DeclineOffer answers UNIMPLEMENTED: offers are not implemented yet.
func (s *Server) DeclineOffer(context.Context, *matchingv1.DeclineOfferRequest) (*matchingv1.DeclineOfferResponse, error) {
	return nil, errMatchesNotYet("DeclineOffer")
}

// ReleaseDriver answers UNIMPLEMENTED: it releases drivers from matches, which are not
// implemented yet.
func (s *Server) ReleaseDriver(context.Context, *matchingv1.ReleaseDriverRequest) (*matchingv1.ReleaseDriverResponse, error) {
	return nil, errMatchesNotYet("ReleaseDriver")
}
