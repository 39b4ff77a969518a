package faregrpc_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

func seatQuote(departure string, qty, load int32) *farev1.QuoteInventoryRequest {
	return &farev1.QuoteInventoryRequest{ProductKey: seatKey(departure), Quantity: qty, Load: &farev1.QuoteInventoryRequest_LoadFactorBps{LoadFactorBps: load}}
}

func TestQuoteInventorySeat(t *testing.T) {
	t.Parallel()
	h := start(t)
	card := h.create(t, inventoryCard(seatKey(""), 10000))

	before := time.Now()
	// 85 % full: the 80 % tier, 1.25x.
	resp, err := h.customer.QuoteInventory(grpctest.Context(t), seatQuote("dep-1", 2, 8500))
	if err != nil {
		t.Fatal(err)
	}
	q := resp.GetQuote()
	if q.GetId() == "" || q.GetRateCardId() != card.GetId() || q.GetRateVersion() != 1 {
		t.Fatalf("quote id %q card %q version %d, want an id, card %q version 1", q.GetId(), q.GetRateCardId(), q.GetRateVersion(), card.GetId())
	}
	if q.GetQuantity() != 2 || q.GetNights() != 1 || q.GetMultiplierBps() != 12500 || q.GetLoadFactorBps() != 8500 {
		t.Fatalf("quantity %d nights %d multiplier %d load %d", q.GetQuantity(), q.GetNights(), q.GetMultiplierBps(), q.GetLoadFactorBps())
	}
	if !proto.Equal(q.GetUnitPrice(), eur(12500)) || !proto.Equal(q.GetPrice(), eur(25000)) {
		t.Fatalf("unit %v price %v, want 125.00 and 250.00 EUR", q.GetUnitPrice(), q.GetPrice())
	}
	var sum int64
	codesSeen := []string{}
	for _, l := range q.GetLines() {
		sum += l.GetAmount().GetAmountMinor()
		codesSeen = append(codesSeen, l.GetCode())
	}
	if sum != q.GetPrice().GetAmountMinor() || len(codesSeen) != 2 || codesSeen[0] != "base" || codesSeen[1] != "load_factor" {
		t.Fatalf("lines %v sum to %d, want base + load_factor = %d", q.GetLines(), sum, q.GetPrice().GetAmountMinor())
	}
	if !proto.Equal(q.GetProductKey(), seatKey("dep-1")) {
		t.Fatalf("product key %v, want the requested one", q.GetProductKey())
	}
	created, valid := q.GetCreateTime().AsTime(), q.GetValidUntil().AsTime()
	if created.Before(before.Add(-time.Second)) || valid.Sub(created) != 15*time.Minute {
		t.Fatalf("create %v valid until %v, want now and 15 minutes later", created, valid)
	}
	if n := h.count(t, "quote"); n != 1 {
		t.Fatalf("%d quotes stored, want 1", n)
	}
}

func TestQuoteInventoryDepartureCardWins(t *testing.T) {
	t.Parallel()
	h := start(t)
	route := h.create(t, inventoryCard(seatKey(""), 10000))
	dep := h.create(t, inventoryCard(seatKey("dep-7"), 20000))
	for _, tc := range []struct {
		departure string
		card      string
		price     int64
	}{
		{"dep-7", dep.GetId(), 20000},
		{"dep-8", route.GetId(), 10000},
		{"", route.GetId(), 10000},
	} {
		resp, err := h.customer.QuoteInventory(grpctest.Context(t), seatQuote(tc.departure, 1, 6000))
		if err != nil {
			t.Fatalf("departure %q: %v", tc.departure, err)
		}
		if q := resp.GetQuote(); q.GetRateCardId() != tc.card || q.GetPrice().GetAmountMinor() != tc.price {
			t.Errorf("departure %q: card %s price %d, want card %s price %d", tc.departure, q.GetRateCardId(), q.GetPrice().GetAmountMinor(), tc.card, tc.price)
		}
	}
}

func TestQuoteInventoryStay(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(stayKey(), 8999))
	// 3 of 10 rooms used: 30 %, the 0 % tier, 0.9x: 8999 × 0.9 = 8099.1 → 8099 per night.
	resp, err := h.service.QuoteInventory(grpctest.Context(t), &farev1.QuoteInventoryRequest{
		ProductKey: stayKey(), Quantity: 2, CheckInDate: future(10), CheckOutDate: future(13),
		Load: &farev1.QuoteInventoryRequest_Occupancy{Occupancy: &farev1.Occupancy{Used: 3, Capacity: 10}},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := resp.GetQuote()
	if q.GetNights() != 3 || q.GetLoadFactorBps() != 3000 || q.GetMultiplierBps() != 9000 {
		t.Fatalf("nights %d load %d multiplier %d, want 3, 3000, 9000", q.GetNights(), q.GetLoadFactorBps(), q.GetMultiplierBps())
	}
	if q.GetUnitPrice().GetAmountMinor() != 8099 || q.GetPrice().GetAmountMinor() != 8099*2*3 {
		t.Fatalf("unit %d total %d, want 8099 and %d", q.GetUnitPrice().GetAmountMinor(), q.GetPrice().GetAmountMinor(), 8099*6)
	}
	if l := q.GetLines(); len(l) != 2 || l[0].GetAmount().GetAmountMinor() != 8999*6 || l[1].GetAmount().GetAmountMinor() != (8099-8999)*6 {
		t.Fatalf("lines %v, want base %d and a discount of %d", l, 8999*6, (8099-8999)*6)
	}
}

// TestQuoteIsDeterministic asks for the same quote many times, concurrently: the price,
// the lines and the rate version are the same every time; only the id and times differ.
func TestQuoteIsDeterministic(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(seatKey(""), 12345))
	req := seatQuote("dep-1", 3, 9100)
	first, err := h.customer.QuoteInventory(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	strip := func(q *farev1.Quote) *farev1.Quote {
		c := proto.Clone(q).(*farev1.Quote)
		c.Id, c.CreateTime, c.ValidUntil = "", nil, nil
		return c
	}
	want := strip(first.GetQuote())
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	got := make(chan *farev1.Quote, 20)
	for range 20 {
		wg.Go(func() {
			resp, err := h.customer.QuoteInventory(grpctest.Context(t), req)
			if err != nil {
				errs <- err
				return
			}
			got <- resp.GetQuote()
		})
	}
	wg.Wait()
	close(errs)
	close(got)
	for err := range errs {
		t.Fatal(err)
	}
	ids := map[string]bool{first.GetQuote().GetId(): true}
	for q := range got {
		if !proto.Equal(strip(q), want) {
			t.Fatalf("quote %v differs from %v", strip(q), want)
		}
		ids[q.GetId()] = true
	}
	if len(ids) != 21 {
		t.Fatalf("%d distinct quote ids, want 21", len(ids))
	}
}

func TestQuoteInventoryNotFound(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(stayKey(), 100))
	_, err := h.customer.QuoteInventory(grpctest.Context(t), seatQuote("dep-1", 1, 0))
	grpctest.WantCode(t, err, codes.NotFound)
	// A card scheduled for later does not price anything yet.
	c := inventoryCard(seatKey(""), 100)
	c.EffectiveTime = timestamp(time.Now().Add(time.Hour))
	h.create(t, c)
	_, err = h.customer.QuoteInventory(grpctest.Context(t), seatQuote("dep-1", 1, 0))
	grpctest.WantCode(t, err, codes.NotFound)
}

func TestQuoteInventoryAuth(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(seatKey(""), 100))
	_, err := h.anon.QuoteInventory(grpctest.Context(t), seatQuote("", 1, 0))
	grpctest.WantCode(t, err, codes.Unauthenticated)
}

func TestQuoteInventoryBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, inventoryCard(seatKey(""), 100))
	h.create(t, inventoryCard(stayKey(), 100))
	load := func(bps int32) *farev1.QuoteInventoryRequest_LoadFactorBps {
		return &farev1.QuoteInventoryRequest_LoadFactorBps{LoadFactorBps: bps}
	}
	occ := func(used, capacity int32) *farev1.QuoteInventoryRequest_Occupancy {
		return &farev1.QuoteInventoryRequest_Occupancy{Occupancy: &farev1.Occupancy{Used: used, Capacity: capacity}}
	}
	stay := func(in, out *typev1.Date) *farev1.QuoteInventoryRequest {
		return &farev1.QuoteInventoryRequest{ProductKey: stayKey(), Quantity: 1, CheckInDate: in, CheckOutDate: out, Load: load(0)}
	}
	noCarrier := seatKey("")
	noCarrier.GetSeat().Carrier = ""
	for _, tc := range []struct {
		name  string
		req   *farev1.QuoteInventoryRequest
		field string
	}{
		{"no product", &farev1.QuoteInventoryRequest{Quantity: 1, Load: load(0)}, "product_key"},
		{"ride product", &farev1.QuoteInventoryRequest{ProductKey: rideKey(), Quantity: 1, Load: load(0)}, "product_key"},
		{"empty carrier", &farev1.QuoteInventoryRequest{ProductKey: noCarrier, Quantity: 1, Load: load(0)}, "product_key.seat.carrier"},
		{"zero quantity", seatQuote("", 0, 0), "quantity"},
		{"negative quantity", seatQuote("", -2, 0), "quantity"},
		{"quantity over 100", seatQuote("", 101, 0), "quantity"},
		{"negative load", seatQuote("", 1, -1), "load_factor_bps"},
		{"load over 100 %", seatQuote("", 1, 10001), "load_factor_bps"},
		{"no load", &farev1.QuoteInventoryRequest{ProductKey: seatKey(""), Quantity: 1}, "load_factor_bps"},
		{"zero capacity", &farev1.QuoteInventoryRequest{ProductKey: seatKey(""), Quantity: 1, Load: occ(0, 0)}, "occupancy.capacity"},
		{"used over capacity", &farev1.QuoteInventoryRequest{ProductKey: seatKey(""), Quantity: 1, Load: occ(11, 10)}, "occupancy.used"},
		{"negative used", &farev1.QuoteInventoryRequest{ProductKey: seatKey(""), Quantity: 1, Load: occ(-1, 10)}, "occupancy.used"},
		{"dates on a seat", &farev1.QuoteInventoryRequest{ProductKey: seatKey(""), Quantity: 1, CheckInDate: future(1), Load: load(0)}, "check_in_date"},
		{"no check-in", stay(nil, future(2)), "check_in_date"},
		{"no check-out", stay(future(1), nil), "check_out_date"},
		{"not a date", stay(&typev1.Date{Year: 2030, Month: 2, Day: 30}, future(2)), "check_in_date"},
		{"past check-in", stay(future(-3), future(1)), "check_in_date"},
		{"check-out before check-in", stay(future(5), future(4)), "check_out_date"},
		{"zero nights", stay(future(5), future(5)), "check_out_date"},
		{"31 nights", stay(future(5), future(36)), "check_out_date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.customer.QuoteInventory(grpctest.Context(t), tc.req)
			grpctest.WantField(t, err, tc.field)
		})
	}
	if n := h.count(t, "quote"); n != 0 {
		t.Fatalf("%d quotes stored by bad requests, want 0", n)
	}
}
