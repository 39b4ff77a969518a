package faregrpc

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/services/fare/fare"
)

// Server implements farev1.FareServiceServer on the fare domain service. Ride fares
// (CalculateRideFare, GetFare, ListFares) are not implemented yet and answer
// UNIMPLEMENTED.
type Server struct {
	farev1.UnimplementedFareServiceServer
	svc *fare.Service
}

// New returns a server on svc.
func New(svc *fare.Service) *Server { return &Server{svc: svc} }

// requireWriter returns the caller's identity when it may write rate cards and surges:
// operators and services. Anonymous callers get UNAUTHENTICATED, others
// PERMISSION_DENIED.
func requireWriter(ctx context.Context) (auth.Identity, error) {
	id, err := auth.Require(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	if !id.Privileged() {
		return auth.Identity{}, toStatus(fare.ErrPermissionDenied)
	}
	return id, nil
}

// CreateRateCard implements farev1.FareServiceServer.
func (s *Server) CreateRateCard(ctx context.Context, req *farev1.CreateRateCardRequest) (*farev1.CreateRateCardResponse, error) {
	id, err := requireWriter(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetRateCard() == nil {
		return nil, toStatus(fare.Invalid("rate_card", "required"))
	}
	card, err := rateCardFromProto("rate_card", req.GetRateCard())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.CreateRateCard(ctx, id.Subject, card, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &farev1.CreateRateCardResponse{RateCard: rateCardToProto(c)}, nil
}

// GetRateCard implements farev1.FareServiceServer.
func (s *Server) GetRateCard(ctx context.Context, req *farev1.GetRateCardRequest) (*farev1.GetRateCardResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	c, latest, err := s.svc.GetRateCard(ctx, req.GetRateCardId(), req.GetVersion())
	if err != nil {
		return nil, toStatus(err)
	}
	return &farev1.GetRateCardResponse{RateCard: rateCardToProto(c), LatestVersion: latest}, nil
}

// ListRateCards implements farev1.FareServiceServer.
func (s *Server) ListRateCards(ctx context.Context, req *farev1.ListRateCardsRequest) (*farev1.ListRateCardsResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	size, err := fare.PageSize("page_size", req.GetPageSize())
	if err != nil {
		return nil, toStatus(err)
	}
	after, err := decodeToken(req.GetPageToken(), "card")
	if err != nil {
		return nil, toStatus(err)
	}
	kind, ok := kindFromProto(req.GetKind())
	if !ok {
		return nil, toStatus(fare.Invalid("kind", "unknown product kind %d", req.GetKind()))
	}
	f := fare.RateCardFilter{Kind: kind}
	if req.GetProductKey() != nil {
		f.Key = keyFromProto(req.GetProductKey())
		if f.Key.Kind == fare.KindUnspecified {
			return nil, toStatus(fare.Invalid("product_key", "exactly one of seat, stay or ride is required"))
		}
	}
	page, err := s.svc.ListRateCards(ctx, f, after, size)
	if err != nil {
		return nil, toStatus(err)
	}
	return &farev1.ListRateCardsResponse{RateCards: rateCardsToProto(page.Cards), NextPageToken: encodeToken("card", page.Next)}, nil
}

// UpdateRateCard implements farev1.FareServiceServer.
func (s *Server) UpdateRateCard(ctx context.Context, req *farev1.UpdateRateCardRequest) (*farev1.UpdateRateCardResponse, error) {
	id, err := requireWriter(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetRateCard() == nil {
		return nil, toStatus(fare.Invalid("rate_card", "required"))
	}
	if req.GetUpdateMask() == nil {
		return nil, toStatus(fare.Invalid("update_mask", "required"))
	}
	patch, err := rateCardFromProto("rate_card", req.GetRateCard())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.svc.UpdateRateCard(ctx, id.Subject, patch, req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &farev1.UpdateRateCardResponse{RateCard: rateCardToProto(c)}, nil
}

// ListRateCardVersions implements farev1.FareServiceServer.
func (s *Server) ListRateCardVersions(ctx context.Context, req *farev1.ListRateCardVersionsRequest) (*farev1.ListRateCardVersionsResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	size, err := fare.PageSize("page_size", req.GetPageSize())
	if err != nil {
		return nil, toStatus(err)
	}
	tok, err := decodeToken(req.GetPageToken(), "version")
	if err != nil {
		return nil, toStatus(err)
	}
	var before int64
	if tok != "" {
		if before, err = strconv.ParseInt(tok, 10, 64); err != nil || before < 1 {
			return nil, toStatus(fare.Invalid("page_token", "malformed"))
		}
	}
	cards, next, err := s.svc.ListRateCardVersions(ctx, req.GetRateCardId(), before, size)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &farev1.ListRateCardVersionsResponse{RateCards: rateCardsToProto(cards)}
	if next > 0 {
		resp.NextPageToken = encodeToken("version", strconv.FormatInt(next, 10))
	}
	return resp, nil
}

// QuoteInventory implements farev1.FareServiceServer.
func (s *Server) QuoteInventory(ctx context.Context, req *farev1.QuoteInventoryRequest) (*farev1.QuoteInventoryResponse, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	q, err := s.svc.QuoteInventory(ctx, inventoryQuoteFromProto(req))
	if err != nil {
		return nil, toStatus(err)
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
		return nil, toStatus(err)
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

// Page tokens are opaque to clients: base64url of "<kind>:<position>", so a token of one
// list is not accepted by another.

func encodeToken(kind, pos string) string {
	if pos == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + pos))
}

// decodeToken returns the position in a token of kind, "" for an empty token, and an
// INVALID_ARGUMENT naming page_token for a malformed one.
func decodeToken(tok, kind string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", fare.Invalid("page_token", "malformed")
	}
	pos, ok := strings.CutPrefix(string(b), kind+":")
	if !ok || pos == "" {
		return "", fare.Invalid("page_token", "malformed")
	}
	return pos, nil
}
