// Package faregrpc is the fare service's gRPC transport, and only that: handlers that
// authenticate, convert, call the fare domain and convert back. Errors are the domain's
// (kit/errs); kit/grpcserver's interceptor turns them into statuses, once. The fare
// service owns rate cards, dynamic pricing, quotes and ride fares; fareapp wires it.
package faregrpc

import (
	"context"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/fare/fare"
)

// Server implements farev1.FareServiceServer on the fare domain service (ride fares in
// rides.go, surges and ride quotes in surge.go).
type Server struct {
	farev1.UnimplementedFareServiceServer
	svc *fare.Service
}

// New returns a server on svc.
func New(svc *fare.Service) *Server { return &Server{svc: svc} }

// CreateRateCard implements farev1.FareServiceServer.
func (s *Server) CreateRateCard(ctx context.Context, req *farev1.CreateRateCardRequest) (*farev1.CreateRateCardResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetRateCard() == nil {
		return nil, errs.Invalid("rate_card", "is required")
	}
	card, err := rateCardFromProto("rate_card", req.GetRateCard())
	if err != nil {
		return nil, err
	}
	out, err := s.svc.CreateRateCard(ctx, c, card, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &farev1.CreateRateCardResponse{RateCard: rateCardToProto(out)}, nil
}

// GetRateCard implements farev1.FareServiceServer.
func (s *Server) GetRateCard(ctx context.Context, req *farev1.GetRateCardRequest) (*farev1.GetRateCardResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	c, latest, err := s.svc.GetRateCard(ctx, req.GetRateCardId(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	return &farev1.GetRateCardResponse{RateCard: rateCardToProto(c), LatestVersion: latest}, nil
}

// ListRateCards implements farev1.FareServiceServer.
func (s *Server) ListRateCards(ctx context.Context, req *farev1.ListRateCardsRequest) (*farev1.ListRateCardsResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	kind, ok := kindFromProto(req.GetKind())
	if !ok {
		return nil, errs.Invalid("kind", "is not a known product kind")
	}
	f := fare.RateCardFilter{Kind: kind}
	if req.GetProductKey() != nil {
		f.Key = keyFromProto(req.GetProductKey())
		if f.Key.Kind == fare.KindUnspecified {
			return nil, errs.Invalid("product_key", "exactly one of seat, stay or ride is required")
		}
	}
	p, err := s.svc.ListRateCards(ctx, f, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &farev1.ListRateCardsResponse{RateCards: rateCardsToProto(p.Cards), NextPageToken: p.NextPageToken}, nil
}

// UpdateRateCard implements farev1.FareServiceServer.
func (s *Server) UpdateRateCard(ctx context.Context, req *farev1.UpdateRateCardRequest) (*farev1.UpdateRateCardResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetRateCard() == nil {
		return nil, errs.Invalid("rate_card", "is required")
	}
	if req.GetUpdateMask() == nil {
		return nil, errs.Invalid("update_mask", "is required")
	}
	patch, err := rateCardFromProto("rate_card", req.GetRateCard())
	if err != nil {
		return nil, err
	}
	out, err := s.svc.UpdateRateCard(ctx, c, patch, req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &farev1.UpdateRateCardResponse{RateCard: rateCardToProto(out)}, nil
}

// ListRateCardVersions implements farev1.FareServiceServer.
func (s *Server) ListRateCardVersions(ctx context.Context, req *farev1.ListRateCardVersionsRequest) (*farev1.ListRateCardVersionsResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	cards, next, err := s.svc.ListRateCardVersions(ctx, req.GetRateCardId(), req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &farev1.ListRateCardVersionsResponse{RateCards: rateCardsToProto(cards), NextPageToken: next}, nil
}

// QuoteInventory implements farev1.FareServiceServer.
func (s *Server) QuoteInventory(ctx context.Context, req *farev1.QuoteInventoryRequest) (*farev1.QuoteInventoryResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	q, err := s.svc.QuoteInventory(ctx, inventoryQuoteFromProto(req))
	if err != nil {
		return nil, err
	}
	return &farev1.QuoteInventoryResponse{Quote: quoteToProto(q)}, nil
}

// BatchQuoteInventory implements farev1.FareServiceServer.
func (s *Server) BatchQuoteInventory(ctx context.Context, req *farev1.BatchQuoteInventoryRequest) (*farev1.BatchQuoteInventoryResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	ins := make([]fare.InventoryQuoteInput, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		ins[i] = inventoryQuoteFromProto(r)
	}
	results, err := s.svc.QuoteInventoryBatch(ctx, ins)
	if err != nil {
		return nil, err
	}
	resp := &farev1.BatchQuoteInventoryResponse{Results: make([]*farev1.InventoryQuoteResult, len(results))}
	for i, r := range results {
		if !r.Priced {
			resp.Results[i] = &farev1.InventoryQuoteResult{Status: farev1.InventoryQuoteResult_STATUS_NOT_PRICED}
			continue
		}
		resp.Results[i] = &farev1.InventoryQuoteResult{Status: farev1.InventoryQuoteResult_STATUS_QUOTED, Quote: quoteToProto(r.Quote)}
	}
	return resp, nil
}
