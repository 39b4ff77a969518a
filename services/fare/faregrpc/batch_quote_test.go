package faregrpc_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestBatchQuoteInventory prices seats (by the departure's card, by the route's card,
// by none) and a stay in one call: results come in request order, each priced quote is
// the one QuoteInventory gives for the same request, the unpriced one fails alone, and
// only the priced quotes are stored.
func TestBatchQuoteInventory(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(seatKey(""), 10000))
	h.create(t, inventoryCard(seatKey("dep-7"), 20000))
	h.create(t, inventoryCard(stayKey(), 8999))
	unpriced := seatQuote("dep-9", 1, 0)
	unpriced.ProductKey.GetSeat().Destination = "SFO" // no card for this route
	stay := &farev1.QuoteInventoryRequest{
		ProductKey: stayKey(), Quantity: 2, CheckInDate: future(10), CheckOutDate: future(13),
		Load: &farev1.QuoteInventoryRequest_Occupancy{Occupancy: &farev1.Occupancy{Used: 3, Capacity: 10}},
	}
	reqs := []*farev1.QuoteInventoryRequest{seatQuote("dep-7", 1, 6000), seatQuote("dep-8", 2, 8500), unpriced, stay, seatQuote("dep-7", 3, 9600)}

	resp, err := h.service.BatchQuoteInventory(grpctest.Context(t), &farev1.BatchQuoteInventoryRequest{Requests: reqs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResults()) != len(reqs) {
		t.Fatalf("%d results for %d requests", len(resp.GetResults()), len(reqs))
	}
	strip := func(q *farev1.Quote) *farev1.Quote {
		c := proto.Clone(q).(*farev1.Quote)
		c.Id, c.CreateTime, c.ValidUntil = "", nil, nil
		return c
	}
	ids := map[string]bool{}
	for i, r := range resp.GetResults() {
		if i == 2 {
			if r.GetStatus() != farev1.InventoryQuoteResult_STATUS_NOT_PRICED || r.GetQuote() != nil {
				t.Errorf("result %d: status %v quote %v, want NOT_PRICED and no quote", i, r.GetStatus(), r.GetQuote())
			}
			continue
		}
		if r.GetStatus() != farev1.InventoryQuoteResult_STATUS_QUOTED || r.GetQuote().GetId() == "" {
			t.Fatalf("result %d: status %v quote %v, want a stored quote", i, r.GetStatus(), r.GetQuote())
		}
		ids[r.GetQuote().GetId()] = true
		single, err := h.service.QuoteInventory(grpctest.Context(t), reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(strip(r.GetQuote()), strip(single.GetQuote())) {
			t.Errorf("result %d: %v, but QuoteInventory gives %v", i, strip(r.GetQuote()), strip(single.GetQuote()))
		}
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct quote ids for 4 priced requests", len(ids))
	}
	// 4 from the batch and 4 from the single quotes it was compared with.
	if n := h.count(t, "quote"); n != 8 {
		t.Errorf("%d quotes stored, want 8", n)
	}
}

// TestBatchQuoteInventoryBadInput: an empty or oversized batch, and one bad request
// among good ones, fail the whole call naming the field, and store nothing.
func TestBatchQuoteInventoryBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(seatKey(""), 10000))
	many := make([]*farev1.QuoteInventoryRequest, 101)
	for i := range many {
		many[i] = seatQuote(fmt.Sprint("dep-", i), 1, 0)
	}
	noDates := &farev1.QuoteInventoryRequest{ProductKey: stayKey(), Quantity: 1, Load: &farev1.QuoteInventoryRequest_LoadFactorBps{}}
	for _, tc := range []struct {
		name  string
		reqs  []*farev1.QuoteInventoryRequest
		field string
	}{
		{"empty", nil, "requests"},
		{"over 100", many, "requests"},
		{"zero quantity", []*farev1.QuoteInventoryRequest{seatQuote("dep-1", 1, 0), seatQuote("dep-2", 0, 0)}, "requests[1].quantity"},
		{"stay without dates", []*farev1.QuoteInventoryRequest{seatQuote("dep-1", 1, 0), seatQuote("dep-2", 1, 0), noDates}, "requests[2].check_in_date"},
		{"ride product", []*farev1.QuoteInventoryRequest{{ProductKey: rideKey(), Quantity: 1, Load: &farev1.QuoteInventoryRequest_LoadFactorBps{}}}, "requests[0].product_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.service.BatchQuoteInventory(grpctest.Context(t), &farev1.BatchQuoteInventoryRequest{Requests: tc.reqs})
			grpctest.WantField(t, err, tc.field)
		})
	}
	if n := h.count(t, "quote"); n != 0 {
		t.Errorf("%d quotes stored by failed calls", n)
	}
}
