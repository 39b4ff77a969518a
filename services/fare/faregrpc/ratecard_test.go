package faregrpc_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/services/fare/fare"
)

// events returns the payloads of the fare.rate_card.updated events written so far, in
// order, whether still in the outbox or already sequenced.
func (h *harness) events(t *testing.T) []*farev1.RateCardEvent {
	t.Helper()
	rows, err := h.pool.Query(t.Context(), `SELECT payload_type, payload FROM (
		SELECT 0 AS part, seq AS n, type, payload_type, payload FROM event_log
		UNION ALL SELECT 1, id, type, payload_type, payload FROM outbox) e
		WHERE type = 'fare.rate_card.updated' ORDER BY part, n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*farev1.RateCardEvent
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		var ev farev1.RateCardEvent
		if !strings.Contains(typ, "/") {
			typ = "type.googleapis.com/" + typ
		}
		if err := (&anypb.Any{TypeUrl: typ, Value: payload}).UnmarshalTo(&ev); err != nil {
			t.Fatalf("payload of type %s: %v", typ, err)
		}
		out = append(out, &ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreateAndGetRateCard(t *testing.T) {
	t.Parallel()
	h := start(t)
	before := time.Now().Add(-time.Second)
	in := inventoryCard(seatKey(""), 10000)
	in.Id, in.Author, in.Version = "ignored", "ignored", 7 // output only
	c := h.create(t, in)
	if c.GetId() == "" || c.GetId() == "ignored" || c.GetVersion() != 1 || c.GetAuthor() != "ops-anna" {
		t.Fatalf("created id %q version %d author %q", c.GetId(), c.GetVersion(), c.GetAuthor())
	}
	if c.GetCreateTime().AsTime().Before(before) || !proto.Equal(c.GetCreateTime(), c.GetUpdateTime()) || !proto.Equal(c.GetEffectiveTime(), c.GetCreateTime()) {
		t.Fatalf("times create %v update %v effective %v", c.GetCreateTime(), c.GetUpdateTime(), c.GetEffectiveTime())
	}
	if !proto.Equal(c.GetProductKey(), in.GetProductKey()) || !proto.Equal(c.GetDynamicPricing(), in.GetDynamicPricing()) ||
		!proto.Equal(c.GetInventory(), in.GetInventory()) || c.GetDescription() != in.GetDescription() {
		t.Fatalf("created %v, want the fields of %v", c, in)
	}
	for _, v := range []int64{0, 1} {
		got, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: c.GetId(), Version: v})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetRateCard(), c) || got.GetLatestVersion() != 1 {
			t.Fatalf("GetRateCard(version %d) = %v latest %d, want %v latest 1", v, got.GetRateCard(), got.GetLatestVersion(), c)
		}
	}
	evs := h.events(t)
	if len(evs) != 1 || !proto.Equal(evs[0].GetRateCard(), c) {
		t.Fatalf("events %v, want one announcing %v", evs, c)
	}
	// A money without a currency takes the card's.
	r := rideCard()
	r.GetRide().BaseFare.CurrencyCode = ""
	if got := h.create(t, r); got.GetRide().GetBaseFare().GetCurrencyCode() != "EUR" {
		t.Fatalf("base fare %v, want EUR", got.GetRide().GetBaseFare())
	}
}

func TestCreateRateCardIdempotent(t *testing.T) {
	t.Parallel()
	h := start(t)
	req := &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 5000), RequestId: "req-1"}
	var wg sync.WaitGroup
	results := make(chan *farev1.RateCard, 10)
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			resp, err := h.operator.CreateRateCard(grpctest.Context(t), req)
			if err != nil {
				errs <- err
				return
			}
			results <- resp.GetRateCard()
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent retry: %v", err)
	}
	var first *farev1.RateCard
	for c := range results {
		if first == nil {
			first = c
		}
		if !proto.Equal(c, first) {
			t.Fatalf("retry returned %v, first %v", c, first)
		}
	}
	// Later, the same request still returns the first result.
	resp, err := h.operator.CreateRateCard(grpctest.Context(t), req)
	if err != nil || !proto.Equal(resp.GetRateCard(), first) {
		t.Fatalf("late retry = %v, %v; want %v", resp.GetRateCard(), err, first)
	}
	// The same id with other content is another request: refused (kit/idempotency).
	later := proto.Clone(req).(*farev1.CreateRateCardRequest)
	later.GetRateCard().GetInventory().UnitPrice = eur(1)
	_, err = h.operator.CreateRateCard(grpctest.Context(t), later)
	grpctest.WantReason(t, err, codes.InvalidArgument, idempotency.ReasonRequestIDReused)
	grpctest.WantField(t, err, "request_id")
	if n := h.count(t, "rate_card"); n != 1 {
		t.Fatalf("%d cards, want 1", n)
	}
	if n := len(h.events(t)); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	// Without the request id it is a second card for the same key.
	_, err = h.operator.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 5000)})
	grpctest.WantCode(t, err, codes.AlreadyExists)
	_, err = h.operator.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 5000), RequestId: "req-2"})
	grpctest.WantCode(t, err, codes.AlreadyExists)
}

// TestCurrencyMustBeISO4217: every amount a request carries is in an active ISO 4217
// currency (kit/money's one rule), refused otherwise with INVALID_ARGUMENT naming the
// field, in fare's ErrorInfo domain.
func TestCurrencyMustBeISO4217(t *testing.T) {
	t.Parallel()
	h := start(t)
	zzz := func(amount int64) *typev1.Money { return &typev1.Money{AmountMinor: amount, CurrencyCode: "ZZZ"} }
	seat := inventoryCard(seatKey(""), 100)
	seat.CurrencyCode = "ZZZ"
	seat.GetInventory().UnitPrice = zzz(100)
	ride := rideCard()
	ride.CurrencyCode = "ZZZ"
	ride.GetRide().BaseFare, ride.GetRide().PerKilometer, ride.GetRide().PerMinute, ride.GetRide().MinimumFare = zzz(1), zzz(1), zzz(1), zzz(1)
	perKm := rideCard()
	perKm.GetRide().PerKilometer = zzz(150)
	for _, tc := range []struct {
		name  string
		card  *farev1.RateCard
		field string
	}{
		{"seat card", seat, "rate_card.currency_code"},
		{"ride card", ride, "rate_card.currency_code"},
		{"one amount of a EUR card", perKm, "rate_card.ride.per_kilometer.currency_code"},
	} {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := h.operator.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: tc.card})
			grpctest.WantField(t, err, tc.field)
			if info := grpctest.WantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT"); info.GetDomain() != "fare.waybill.dev" {
				t.Errorf("ErrorInfo domain %q, want fare.waybill.dev", info.GetDomain())
			}
		})
	}
	c := h.create(t, inventoryCard(stayKey(), 100))
	_, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard:   &farev1.RateCard{Id: c.GetId(), Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: zzz(100)}}},
		UpdateMask: update("inventory"),
	})
	grpctest.WantField(t, err, "rate_card.inventory.unit_price.currency_code")
	if n := h.count(t, "rate_card_version"); n != 1 {
		t.Fatalf("%d versions, want only the EUR card's first", n)
	}
}

func TestRateCardWritesNeedOperatorOrService(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, err := h.anon.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 1)})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	_, err = h.customer.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 1)})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	resp, err := h.service.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 1)})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	id := resp.GetRateCard().GetId()
	upd := &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, Description: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}}
	_, err = h.customer.UpdateRateCard(grpctest.Context(t), upd)
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.anon.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: id})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	_, err = h.anon.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	if n := h.count(t, "rate_card_version"); n != 1 {
		t.Fatalf("%d versions, want 1", n)
	}
}

func update(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func TestUpdateRateCardVersions(t *testing.T) {
	t.Parallel()
	h := start(t)
	v1 := h.create(t, inventoryCard(seatKey(""), 10000))

	// Version 2: a new price. Version 3: no dynamic pricing and a new description.
	resp, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard:   &farev1.RateCard{Id: v1.GetId(), Version: 1, Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(11000)}}},
		UpdateMask: update("inventory"), RequestId: "upd-2",
	})
	if err != nil {
		t.Fatal(err)
	}
	v2 := resp.GetRateCard()
	if v2.GetVersion() != 2 || v2.GetInventory().GetUnitPrice().GetAmountMinor() != 11000 || v2.GetId() != v1.GetId() ||
		!proto.Equal(v2.GetDynamicPricing(), v1.GetDynamicPricing()) || v2.GetDescription() != v1.GetDescription() ||
		!proto.Equal(v2.GetCreateTime(), v1.GetCreateTime()) || !v2.GetUpdateTime().AsTime().After(v1.GetUpdateTime().AsTime()) {
		t.Fatalf("version 2 = %v", v2)
	}
	// A retry of the same update returns version 2 again.
	again, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard:   &farev1.RateCard{Id: v1.GetId(), Version: 1, Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(11000)}}},
		UpdateMask: update("inventory"), RequestId: "upd-2",
	})
	if err != nil || !proto.Equal(again.GetRateCard(), v2) {
		t.Fatalf("retry = %v, %v; want version 2", again.GetRateCard(), err)
	}
	// The same id with another change is refused.
	_, err = h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard:   &farev1.RateCard{Id: v1.GetId(), Version: 1, Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(12000)}}},
		UpdateMask: update("inventory"), RequestId: "upd-2",
	})
	grpctest.WantReason(t, err, codes.InvalidArgument, idempotency.ReasonRequestIDReused)
	// A stale version is refused.
	_, err = h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard: &farev1.RateCard{Id: v1.GetId(), Version: 1, Description: "stale"}, UpdateMask: update("description"),
	})
	grpctest.WantReason(t, err, codes.Aborted, fare.ReasonStaleVersion)
	resp, err = h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard: &farev1.RateCard{Id: v1.GetId(), Description: "flat"}, UpdateMask: update("dynamic_pricing", "description"),
	})
	if err != nil {
		t.Fatal(err)
	}
	v3 := resp.GetRateCard()
	if v3.GetVersion() != 3 || v3.GetDynamicPricing() != nil || v3.GetDescription() != "flat" || v3.GetInventory().GetUnitPrice().GetAmountMinor() != 11000 {
		t.Fatalf("version 3 = %v", v3)
	}

	// Every version stays readable as written.
	for _, want := range []*farev1.RateCard{v1, v2, v3} {
		got, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: v1.GetId(), Version: want.GetVersion()})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetRateCard(), want) || got.GetLatestVersion() != 3 {
			t.Fatalf("version %d = %v (latest %d), want %v", want.GetVersion(), got.GetRateCard(), got.GetLatestVersion(), want)
		}
	}
	cur, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: v1.GetId()})
	if err != nil || !proto.Equal(cur.GetRateCard(), v3) {
		t.Fatalf("current = %v, %v; want version 3", cur.GetRateCard(), err)
	}
	_, err = h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: v1.GetId(), Version: 4})
	grpctest.WantCode(t, err, codes.NotFound)

	// History, newest first, one page at a time.
	var history []*farev1.RateCard
	token := ""
	for page := 0; ; page++ {
		resp, err := h.customer.ListRateCardVersions(grpctest.Context(t), &farev1.ListRateCardVersionsRequest{RateCardId: v1.GetId(), PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, resp.GetRateCards()...)
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
		if page > 3 {
			t.Fatal("too many pages")
		}
	}
	if len(history) != 3 || !proto.Equal(history[0], v3) || !proto.Equal(history[1], v2) || !proto.Equal(history[2], v1) {
		t.Fatalf("history %v, want versions 3, 2, 1", history)
	}

	// Quotes use the version in effect: 3, at 1.0x.
	q, err := h.customer.QuoteInventory(grpctest.Context(t), seatQuote("", 1, 9900))
	if err != nil {
		t.Fatal(err)
	}
	if q.GetQuote().GetRateVersion() != 3 || q.GetQuote().GetPrice().GetAmountMinor() != 11000 {
		t.Fatalf("quote version %d price %d, want 3 and 11000", q.GetQuote().GetRateVersion(), q.GetQuote().GetPrice().GetAmountMinor())
	}

	// One event per version, in order.
	evs := h.events(t)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	for i, want := range []*farev1.RateCard{v1, v2, v3} {
		if !proto.Equal(evs[i].GetRateCard(), want) {
			t.Fatalf("event %d = %v, want %v", i, evs[i].GetRateCard(), want)
		}
	}
}

func TestScheduledVersion(t *testing.T) {
	t.Parallel()
	h := start(t)
	v1 := h.create(t, inventoryCard(seatKey(""), 10000))
	at := time.Now().Add(time.Hour).Add(123 * time.Nanosecond)
	resp, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard: &farev1.RateCard{
			Id: v1.GetId(), EffectiveTime: timestamp(at),
			Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(50000)}},
		},
		UpdateMask: update("inventory", "effective_time"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Stored, and returned, with microsecond precision.
	at = at.Truncate(time.Microsecond)
	v2 := resp.GetRateCard()
	if v2.GetVersion() != 2 || !v2.GetEffectiveTime().AsTime().Equal(at) {
		t.Fatalf("version 2 = %v", v2)
	}
	if got, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: v1.GetId(), Version: 2}); err != nil || !proto.Equal(got.GetRateCard(), v2) {
		t.Fatalf("read back = %v, %v; want %v", got.GetRateCard(), err, v2)
	}
	cur, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: v1.GetId()})
	if err != nil || cur.GetRateCard().GetVersion() != 1 || cur.GetLatestVersion() != 2 {
		t.Fatalf("current = version %d latest %d (%v), want 1 and 2", cur.GetRateCard().GetVersion(), cur.GetLatestVersion(), err)
	}
	q, err := h.customer.QuoteInventory(grpctest.Context(t), seatQuote("", 1, 5000))
	if err != nil || q.GetQuote().GetRateVersion() != 1 || q.GetQuote().GetPrice().GetAmountMinor() != 10000 {
		t.Fatalf("quote = %v, %v; want version 1 at 10000", q.GetQuote(), err)
	}
	// Editing the scheduled version's description keeps it scheduled.
	resp, err = h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard: &farev1.RateCard{Id: v1.GetId(), Description: "summer"}, UpdateMask: update("description"),
	})
	if err != nil || resp.GetRateCard().GetVersion() != 3 || !resp.GetRateCard().GetEffectiveTime().AsTime().Equal(at) {
		t.Fatalf("version 3 = %v, %v; want effective at %v", resp.GetRateCard(), err, at)
	}
	list, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{})
	if err != nil || len(list.GetRateCards()) != 1 || list.GetRateCards()[0].GetVersion() != 1 {
		t.Fatalf("list = %v, %v; want version 1 in effect", list.GetRateCards(), err)
	}
}

func TestListRateCards(t *testing.T) {
	t.Parallel()
	h := start(t)
	var seats []*farev1.RateCard
	for _, dep := range []string{"", "d1", "d2", "d3"} {
		seats = append(seats, h.create(t, inventoryCard(seatKey(dep), 100)))
	}
	stay := h.create(t, inventoryCard(stayKey(), 100))
	ride := h.create(t, rideCard())

	all := func(req *farev1.ListRateCardsRequest) []*farev1.RateCard {
		t.Helper()
		var out []*farev1.RateCard
		for range 10 {
			resp, err := h.customer.ListRateCards(grpctest.Context(t), req)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, resp.GetRateCards()...)
			if resp.GetNextPageToken() == "" {
				return out
			}
			req.PageToken = resp.GetNextPageToken()
		}
		t.Fatal("too many pages")
		return nil
	}
	got := all(&farev1.ListRateCardsRequest{PageSize: 2})
	if len(got) != 6 {
		t.Fatalf("%d cards, want 6", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].GetId() >= got[i].GetId() {
			t.Fatalf("not ordered by id: %s before %s", got[i-1].GetId(), got[i].GetId())
		}
	}
	if got := all(&farev1.ListRateCardsRequest{Kind: farev1.ProductKind_PRODUCT_KIND_SEAT, PageSize: 3}); len(got) != 4 {
		t.Fatalf("%d seat cards, want 4", len(got))
	}
	if got := all(&farev1.ListRateCardsRequest{Kind: farev1.ProductKind_PRODUCT_KIND_RIDE}); len(got) != 1 || !proto.Equal(got[0], ride) {
		t.Fatalf("ride cards %v, want %v", got, ride)
	}
	if got := all(&farev1.ListRateCardsRequest{ProductKey: stayKey()}); len(got) != 1 || !proto.Equal(got[0], stay) {
		t.Fatalf("stay cards %v, want %v", got, stay)
	}
	// The exact key: no route-wide fallback.
	if got := all(&farev1.ListRateCardsRequest{ProductKey: seatKey("d9")}); len(got) != 0 {
		t.Fatalf("cards for an unknown departure: %v", got)
	}
	if got := all(&farev1.ListRateCardsRequest{ProductKey: seatKey("d2")}); len(got) != 1 || !proto.Equal(got[0], seats[2]) {
		t.Fatalf("cards for d2: %v", got)
	}
}

func TestRateCardBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	existing := h.create(t, inventoryCard(seatKey("exists"), 100))
	versionsBefore, eventsBefore := h.count(t, "rate_card_version"), len(h.events(t))

	card := func(mutate func(c *farev1.RateCard)) *farev1.RateCard {
		c := inventoryCard(seatKey(""), 10000)
		mutate(c)
		return c
	}
	ride := func(mutate func(c *farev1.RateCard)) *farev1.RateCard {
		c := rideCard()
		mutate(c)
		return c
	}
	longText := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		return string(b)
	}
	tiers := func(n int) []*farev1.LoadFactorTier {
		var ts []*farev1.LoadFactorTier
		for i := range n {
			ts = append(ts, &farev1.LoadFactorTier{ThresholdBps: int32(i * 100), MultiplierBps: 10000})
		}
		return ts
	}
	create := []struct {
		name  string
		card  *farev1.RateCard
		reqID string
		field string
	}{
		{"no card", nil, "", "rate_card"},
		{"no product key", card(func(c *farev1.RateCard) { c.ProductKey = nil }), "", "rate_card.product_key"},
		{"empty seat key", card(func(c *farev1.RateCard) { c.ProductKey = &farev1.ProductKey{Product: &farev1.ProductKey_Seat{}} }), "", "rate_card.product_key.seat.carrier"},
		{"empty fare class", card(func(c *farev1.RateCard) { c.GetProductKey().GetSeat().FareClass = "" }), "", "rate_card.product_key.seat.fare_class"},
		{"long origin", card(func(c *farev1.RateCard) { c.GetProductKey().GetSeat().Origin = longText(65) }), "", "rate_card.product_key.seat.origin"},
		{"empty room type", card(func(c *farev1.RateCard) {
			c.ProductKey = &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{PropertyId: "p"}}}
		}), "", "rate_card.product_key.stay.room_type"},
		{"upper-case city", ride(func(c *farev1.RateCard) { c.GetProductKey().GetRide().City = "Berlin" }), "", "rate_card.product_key.ride.city"},
		{"no currency", card(func(c *farev1.RateCard) { c.CurrencyCode = "" }), "", "rate_card.currency_code"},
		{"bad currency", card(func(c *farev1.RateCard) { c.CurrencyCode = "eur" }), "", "rate_card.currency_code"},
		{"no pricing", card(func(c *farev1.RateCard) { c.Pricing = nil }), "", "rate_card.inventory"},
		{"ride pricing on a seat card", card(func(c *farev1.RateCard) { c.Pricing = rideCard().GetPricing() }), "", "rate_card.ride"},
		{"inventory pricing on a ride card", ride(func(c *farev1.RateCard) { c.Pricing = inventoryCard(nil, 1).GetPricing(); c.DynamicPricing = nil }), "", "rate_card.inventory"},
		{"no unit price", card(func(c *farev1.RateCard) { c.GetInventory().UnitPrice = nil }), "", "rate_card.inventory.unit_price"},
		{"negative unit price", card(func(c *farev1.RateCard) { c.GetInventory().UnitPrice = eur(-1) }), "", "rate_card.inventory.unit_price.amount_minor"},
		{"huge unit price", card(func(c *farev1.RateCard) { c.GetInventory().UnitPrice = eur(10_000_000_001) }), "", "rate_card.inventory.unit_price.amount_minor"},
		{"mismatched currency", card(func(c *farev1.RateCard) {
			c.GetInventory().UnitPrice = &typev1.Money{AmountMinor: 1, CurrencyCode: "USD"}
		}), "", "rate_card.inventory.unit_price.currency_code"},
		{"no minimum fare", ride(func(c *farev1.RateCard) { c.GetRide().MinimumFare = nil }), "", "rate_card.ride.minimum_fare"},
		{"negative per minute", ride(func(c *farev1.RateCard) { c.GetRide().PerMinute = eur(-5) }), "", "rate_card.ride.per_minute.amount_minor"},
		{"mismatched per km", ride(func(c *farev1.RateCard) { c.GetRide().PerKilometer.CurrencyCode = "GBP" }), "", "rate_card.ride.per_kilometer.currency_code"},
		{"min multiplier too low", card(func(c *farev1.RateCard) { c.DynamicPricing.MinMultiplierBps = 999 }), "", "rate_card.dynamic_pricing.min_multiplier_bps"},
		{"min multiplier above 1x", card(func(c *farev1.RateCard) { c.DynamicPricing.MinMultiplierBps = 10001 }), "", "rate_card.dynamic_pricing.min_multiplier_bps"},
		{"max multiplier below 1x", card(func(c *farev1.RateCard) { c.DynamicPricing.MaxMultiplierBps = 9999 }), "", "rate_card.dynamic_pricing.max_multiplier_bps"},
		{"max multiplier above 10x", card(func(c *farev1.RateCard) { c.DynamicPricing.MaxMultiplierBps = 100001 }), "", "rate_card.dynamic_pricing.max_multiplier_bps"},
		{"tiers on a ride card", ride(func(c *farev1.RateCard) { c.DynamicPricing.LoadFactorTiers = tiers(1) }), "", "rate_card.dynamic_pricing.load_factor_tiers"},
		{"21 tiers", card(func(c *farev1.RateCard) { c.DynamicPricing.LoadFactorTiers = tiers(21) }), "", "rate_card.dynamic_pricing.load_factor_tiers"},
		{"duplicate threshold", card(func(c *farev1.RateCard) { c.DynamicPricing.LoadFactorTiers[1].ThresholdBps = 0 }), "", "rate_card.dynamic_pricing.load_factor_tiers[1].threshold_bps"},
		{"threshold over 100 %", card(func(c *farev1.RateCard) { c.DynamicPricing.LoadFactorTiers[2].ThresholdBps = 10001 }), "", "rate_card.dynamic_pricing.load_factor_tiers[2].threshold_bps"},
		{"zero tier multiplier", card(func(c *farev1.RateCard) { c.DynamicPricing.LoadFactorTiers[3].MultiplierBps = 0 }), "", "rate_card.dynamic_pricing.load_factor_tiers[3].multiplier_bps"},
		{"past effective time", card(func(c *farev1.RateCard) { c.EffectiveTime = timestamp(time.Now().Add(-time.Hour)) }), "", "rate_card.effective_time"},
		{"long description", card(func(c *farev1.RateCard) { c.Description = longText(501) }), "", "rate_card.description"},
		{"long request id", card(func(c *farev1.RateCard) {}), longText(129), "request_id"},
	}
	for _, tc := range create {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := h.operator.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: tc.card, RequestId: tc.reqID})
			grpctest.WantField(t, err, tc.field)
		})
	}

	id := existing.GetId()
	inv := func(amount int64) *farev1.RateCard_Inventory {
		return &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(amount)}}
	}
	updates := []struct {
		name  string
		req   *farev1.UpdateRateCardRequest
		field string
	}{
		{"no card", &farev1.UpdateRateCardRequest{UpdateMask: update("description")}, "rate_card"},
		{"no id", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{}, UpdateMask: update("description")}, "rate_card.id"},
		{"no mask", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id}}, "update_mask"},
		{"empty mask", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id}, UpdateMask: update()}, "update_mask"},
		{"immutable product key", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, ProductKey: stayKey()}, UpdateMask: update("product_key")}, "update_mask"},
		{"immutable currency", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, CurrencyCode: "USD"}, UpdateMask: update("currency_code")}, "update_mask"},
		{"unknown path", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id}, UpdateMask: update("author")}, "update_mask"},
		{"sub-path", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id}, UpdateMask: update("inventory.unit_price")}, "update_mask"},
		{"negative version", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, Version: -1}, UpdateMask: update("description")}, "rate_card.version"},
		{"masked inventory unset", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id}, UpdateMask: update("inventory")}, "rate_card.inventory"},
		{"ride on a seat card", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, Pricing: rideCard().GetPricing()}, UpdateMask: update("ride")}, "rate_card.ride"},
		{"negative price", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, Pricing: inv(-1)}, UpdateMask: update("inventory")}, "rate_card.inventory.unit_price.amount_minor"},
		{"other currency", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: &typev1.Money{AmountMinor: 5, CurrencyCode: "USD"}}}}, UpdateMask: update("inventory")}, "rate_card.inventory.unit_price.currency_code"},
		{"bad bounds", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, DynamicPricing: &farev1.DynamicPricing{MaxMultiplierBps: 5}}, UpdateMask: update("dynamic_pricing")}, "rate_card.dynamic_pricing.max_multiplier_bps"},
		{"past effective time", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id, EffectiveTime: timestamp(time.Now().Add(-time.Hour))}, UpdateMask: update("effective_time")}, "rate_card.effective_time"},
		{"long request id", &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: id}, UpdateMask: update("description"), RequestId: longText(129)}, "request_id"},
	}
	for _, tc := range updates {
		t.Run("update/"+tc.name, func(t *testing.T) {
			_, err := h.operator.UpdateRateCard(grpctest.Context(t), tc.req)
			grpctest.WantField(t, err, tc.field)
		})
	}
	t.Run("update/unknown card", func(t *testing.T) {
		_, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: "00000000-0000-0000-0000-000000000000"}, UpdateMask: update("description")})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: "not-a-uuid"}, UpdateMask: update("description")})
		grpctest.WantField(t, err, "rate_card.id")
	})

	reads := []struct {
		name  string
		call  func() error
		field string
	}{
		{"get without id", func() error {
			_, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{})
			return err
		}, "rate_card_id"},
		{"get negative version", func() error {
			_, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: id, Version: -1})
			return err
		}, "version"},
		{"list negative page size", func() error {
			_, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{PageSize: -1})
			return err
		}, "page_size"},
		{"list bad token", func() error {
			_, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{PageToken: "!!"})
			return err
		}, "page_token"},
		{"list token of another list", func() error {
			_, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{PageToken: "dmVyc2lvbjoy"}) // "version:2"
			return err
		}, "page_token"},
		{"list unknown kind", func() error {
			_, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{Kind: 9})
			return err
		}, "kind"},
		{"list empty product key", func() error {
			_, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{ProductKey: &farev1.ProductKey{}})
			return err
		}, "product_key"},
		{"list invalid product key", func() error {
			_, err := h.customer.ListRateCards(grpctest.Context(t), &farev1.ListRateCardsRequest{ProductKey: &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{}}}})
			return err
		}, "product_key.stay.property_id"},
		{"versions without id", func() error {
			_, err := h.customer.ListRateCardVersions(grpctest.Context(t), &farev1.ListRateCardVersionsRequest{})
			return err
		}, "rate_card_id"},
		{"versions negative page size", func() error {
			_, err := h.customer.ListRateCardVersions(grpctest.Context(t), &farev1.ListRateCardVersionsRequest{RateCardId: id, PageSize: -5})
			return err
		}, "page_size"},
		{"versions bad token", func() error {
			_, err := h.customer.ListRateCardVersions(grpctest.Context(t), &farev1.ListRateCardVersionsRequest{RateCardId: id, PageToken: "dmVyc2lvbjp4"}) // "version:x"
			return err
		}, "page_token"},
	}
	for _, tc := range reads {
		t.Run(tc.name, func(t *testing.T) { grpctest.WantField(t, tc.call(), tc.field) })
	}
	t.Run("unknown ids", func(t *testing.T) {
		_, err := h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: "00000000-0000-0000-0000-000000000000"})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = h.customer.GetRateCard(grpctest.Context(t), &farev1.GetRateCardRequest{RateCardId: "nope"})
		grpctest.WantField(t, err, "rate_card_id")
		_, err = h.customer.ListRateCardVersions(grpctest.Context(t), &farev1.ListRateCardVersionsRequest{RateCardId: "00000000-0000-0000-0000-000000000000"})
		grpctest.WantCode(t, err, codes.NotFound)
	})

	if n := h.count(t, "rate_card_version"); n != versionsBefore {
		t.Fatalf("bad requests wrote versions: %d, want %d", n, versionsBefore)
	}
	if n := h.count(t, "rate_card"); n != 1 {
		t.Fatalf("bad requests wrote cards: %d, want 1", n)
	}
	if n := len(h.events(t)); n != eventsBefore {
		t.Fatalf("bad requests wrote events: %d, want %d", n, eventsBefore)
	}
}

// TestConcurrentUpdates writes versions from many callers at once: each gets its own
// version number, none is lost, and the events follow version order.
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	h := start(t)
	v1 := h.create(t, inventoryCard(seatKey(""), 100))
	var wg sync.WaitGroup
	versions := make(chan int64, 10)
	for i := range 10 {
		wg.Go(func() {
			resp, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
				RateCard:   &farev1.RateCard{Id: v1.GetId(), Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(int64(1000 + i))}}},
				UpdateMask: update("inventory"),
			})
			if err != nil {
				t.Errorf("update: %v", err)
				return
			}
			versions <- resp.GetRateCard().GetVersion()
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		seen[v] = true
	}
	for v := int64(2); v <= 11; v++ {
		if !seen[v] {
			t.Fatalf("versions %v, want 2 to 11", seen)
		}
	}
	evs := h.events(t)
	if len(evs) != 11 {
		t.Fatalf("%d events, want 11", len(evs))
	}
	for i, ev := range evs {
		if ev.GetRateCard().GetVersion() != int64(i+1) {
			t.Fatalf("event %d announces version %d", i, ev.GetRateCard().GetVersion())
		}
	}
}
