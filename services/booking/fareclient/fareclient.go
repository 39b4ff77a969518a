// Package fareclient is booking's outbound adapter to the fare service: it asks
// QuoteInventory for the price of seats and stays, and BatchQuoteInventory for a page of
// search offers, and maps fare's answers to booking's own errors, once, from
// grpcerr.FromStatus: a product without a rate card is a precondition of booking's
// caller (NOT_PRICED), fare not answering is UNAVAILABLE naming fare
// (FARE_UNAVAILABLE), and fare rejecting booking's request is booking's bug, not its
// caller's (INTERNAL).
package fareclient

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/booking/booking"
)

// IdempotentMethods lists the fare methods this client calls that may be retried:
// quotes are pure reads of prices (each retry stores one more quote, which is harmless).
var IdempotentMethods = []string{farev1.FareService_QuoteInventory_FullMethodName, farev1.FareService_BatchQuoteInventory_FullMethodName}

// maxBatch is the most requests fare's BatchQuoteInventory takes in one call.
const maxBatch = 100

// Client prices inventory through the fare service; it implements booking.Pricer.
type Client struct {
	fare    farev1.FareServiceClient
	timeout time.Duration
	batch   *coalescer
}

var _ booking.Pricer = (*Client)(nil)

// New returns a client on conn, whose calls carry booking's service credentials. Each
// call gets timeout as its deadline unless its context has an earlier one.
func New(conn grpc.ClientConnInterface, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	c := &Client{fare: farev1.NewFareServiceClient(conn), timeout: timeout}
	c.batch = &coalescer{c: c}
	return c
}

// QuoteSeats prices seats of a departure's fare class.
func (c *Client) QuoteSeats(ctx context.Context, q booking.SeatQuoteRequest) (booking.Quote, error) {
	return c.quote(ctx, seatRequest(q))
}

// QuoteStay prices rooms of a property's room type for every night of a stay.
func (c *Client) QuoteStay(ctx context.Context, q booking.StayQuoteRequest) (booking.Quote, error) {
	return c.quote(ctx, stayRequest(q))
}

// QuoteOffers prices search offers with one BatchQuoteInventory call per 100 offers.
func (c *Client) QuoteOffers(ctx context.Context, qs []booking.OfferQuoteRequest) ([]*booking.Quote, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out := make([]*booking.Quote, 0, len(qs))
	for chunk := range slices.Chunk(qs, maxBatch) {
		req := &farev1.BatchQuoteInventoryRequest{Requests: make([]*farev1.QuoteInventoryRequest, len(chunk))}
		for i, q := range chunk {
			if q.Seat != nil {
				req.Requests[i] = seatRequest(*q.Seat)
			} else {
				req.Requests[i] = stayRequest(*q.Stay)
			}
		}
		resp, err := c.fare.BatchQuoteInventory(callCtx, req)
		if err != nil {
			return nil, mapError(ctx, "BatchQuoteInventory", err)
		}
		if len(resp.GetResults()) != len(chunk) {
			return nil, fmt.Errorf("fare BatchQuoteInventory: %d results for %d requests", len(resp.GetResults()), len(chunk))
		}
		for _, r := range resp.GetResults() {
			if r.GetStatus() != farev1.InventoryQuoteResult_STATUS_QUOTED {
				out = append(out, nil)
				continue
			}
			q, err := toQuote(r.GetQuote())
			if err != nil {
				return nil, err
			}
			out = append(out, &q)
		}
	}
	return out, nil
}

func seatRequest(q booking.SeatQuoteRequest) *farev1.QuoteInventoryRequest {
	return &farev1.QuoteInventoryRequest{
		ProductKey: &farev1.ProductKey{Product: &farev1.ProductKey_Seat{Seat: &farev1.SeatProduct{
			Carrier: q.Carrier, Origin: q.Origin, Destination: q.Destination, FareClass: q.FareClass, DepartureId: q.DepartureID,
		}}},
		Quantity: int32(q.Quantity),
		Load:     occupancy(q.Used, q.Capacity),
	}
}

func stayRequest(q booking.StayQuoteRequest) *farev1.QuoteInventoryRequest {
	return &farev1.QuoteInventoryRequest{
		ProductKey: &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{
			PropertyId: q.PropertyID, RoomType: q.RoomType,
		}}},
		Quantity:     int32(q.Quantity),
		CheckInDate:  date(q.CheckIn),
		CheckOutDate: date(q.CheckOut),
		Load:         occupancy(q.Used, q.Capacity),
	}
}

func occupancy(used, capacity int) *farev1.QuoteInventoryRequest_Occupancy {
	capacity = max(capacity, 1)
	used = min(max(used, 0), capacity)
	return &farev1.QuoteInventoryRequest_Occupancy{Occupancy: &farev1.Occupancy{Used: int32(used), Capacity: int32(capacity)}}
}

func date(d booking.Date) *typev1.Date {
	return &typev1.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
}

// quote prices one request, together with those of concurrent holds (coalesce.go).
func (c *Client) quote(ctx context.Context, req *farev1.QuoteInventoryRequest) (booking.Quote, error) {
	return c.batch.quote(ctx, req)
}

// quoteOne prices one request with its own QuoteInventory call.
func (c *Client) quoteOne(ctx context.Context, req *farev1.QuoteInventoryRequest) (booking.Quote, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.fare.QuoteInventory(callCtx, req)
	if err != nil {
		return booking.Quote{}, mapError(ctx, "QuoteInventory", err)
	}
	return toQuote(resp.GetQuote())
}

// toQuote is booking's copy of fare's quote, whose price must be well formed.
func toQuote(q *farev1.Quote) (booking.Quote, error) {
	total, unit := q.GetPrice(), q.GetUnitPrice()
	if total == nil || !money.ValidCurrency(total.GetCurrencyCode()) || total.GetAmountMinor() < 0 {
		return booking.Quote{}, fmt.Errorf("fare quote %s: malformed price %v", q.GetId(), total)
	}
	return booking.Quote{
		ID:          q.GetId(),
		RateCardID:  q.GetRateCardId(),
		RateVersion: q.GetRateVersion(),
		Unit:        money.New(unit.GetAmountMinor(), unit.GetCurrencyCode()),
		Total:       money.New(total.GetAmountMinor(), total.GetCurrencyCode()),
		ValidUntil:  q.GetValidUntil().AsTime(),
	}, nil
}

// mapError turns the error of a call to fare's method into booking's, from what
// grpcerr.FromStatus makes of fare's status: NOT_FOUND (no rate card) is a precondition
// of the product; fare not answering (UNAVAILABLE, or DEADLINE_EXCEEDED, INTERNAL and the
// like, which FromStatus makes UNAVAILABLE too) and fare's limits or lost races
// (RESOURCE_EXHAUSTED, ABORTED) are UNAVAILABLE with reason FARE_UNAVAILABLE; ctx, the
// caller's context, ending stays its own error. Anything else (fare rejecting booking's
// request, or booking's credentials) is booking's bug, not its caller's: an error
// without a kind, which the transport answers as INTERNAL and logs.
func mapError(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = grpcerr.FromStatus(err)
	e, ok := errs.As(err)
	if !ok {
		return fmt.Errorf("fare %s: %w", method, err)
	}
	// The cause, for logs, is fare's answer as text: a status, or an error of fare's kind,
	// in the chain would be taken for booking's own answer by the transport.
	cause := fmt.Errorf("fare %s: %s (%s): %s", method, e.Kind, e.ReasonOrKind(), e.Message)
	switch e.Kind {
	case errs.NotFound:
		return errs.Precondition(booking.ReasonNotPriced, "the fare service has no rate card for this product").WithCause(cause)
	case errs.Unavailable, errs.ResourceExhausted, errs.Aborted:
		return errs.Unreachable(booking.ReasonFareUnavailable, "the fare service could not price this (%s); retry later", e.ReasonOrKind()).WithCause(cause)
	}
	return fmt.Errorf("fare refused booking's request: %w", cause)
}
