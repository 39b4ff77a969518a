package farepg_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/farepg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) *farepg.Store {
	pool := pgtest.NewDB(t, "fare", farepg.Migrations)
	return farepg.New(pool, farepg.Options{RateCardEvent: func(fare.RateCard) proto.Message { return &emptypb.Empty{} }})
}

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func seat(departure string) fare.ProductKey {
	return fare.ProductKey{Kind: fare.KindSeat, Seat: fare.SeatProduct{Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "economy", DepartureID: departure}}
}

func card(key fare.ProductKey, price int64, effective time.Time) fare.RateCard {
	return fare.RateCard{
		Key: key, Currency: "EUR",
		Inventory:     &fare.InventoryPricing{UnitPrice: money.Money{Amount: price, Currency: "EUR"}},
		EffectiveTime: effective, CreateTime: t0, UpdateTime: t0, Version: 1, Author: "test",
	}
}

// update writes the next version of id with price, effective at eff.
func update(t *testing.T, s *farepg.Store, id string, price int64, eff time.Time) {
	t.Helper()
	_, err := s.UpdateRateCard(t.Context(), id, idempotency.Key{}, func(latest fare.RateCard) (fare.RateCard, error) {
		next := latest
		next.Inventory = &fare.InventoryPricing{UnitPrice: money.Money{Amount: price, Currency: "EUR"}}
		next.EffectiveTime, next.Version = eff, latest.Version+1
		return next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVersionInEffect checks "the highest version whose effective time is at or before
// t" at several times, for the quote lookup, GetRateCard and ListRateCards alike.
func TestVersionInEffect(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	c, err := s.CreateRateCard(ctx, card(seat(""), 100, t0), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, c.ID, 200, t0.Add(time.Hour))      // v2: scheduled for +1h
	update(t, s, c.ID, 300, t0.Add(30*time.Minute)) // v3: scheduled for +30m
	update(t, s, c.ID, 400, t0.Add(2*time.Hour))    // v4: scheduled for +2h
	update(t, s, c.ID, 500, t0.Add(90*time.Minute)) // v5: scheduled for +90m, before v4's time
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{
		{-time.Minute, 0}, // nothing in effect yet
		{0, 1},
		{29 * time.Minute, 1},
		{30 * time.Minute, 3},
		{time.Hour, 3}, // v2 takes effect but v3 is higher
		{90 * time.Minute, 5},
		{3 * time.Hour, 5}, // v4's time came, v5 is higher
	} {
		now := t0.Add(tc.at)
		got, err := inEffect(ctx, s, []fare.ProductKey{seat("d1"), seat("")}, now)
		if tc.want == 0 {
			if !errors.Is(err, errs.NotFound) {
				t.Fatalf("at %v: %v, %v; want not found", tc.at, got.Version, err)
			}
			// GetRateCard falls back to version 1 when none is in effect.
			c, _, err := s.RateCard(ctx, c.ID, 0, now)
			if err != nil || c.Version != 1 {
				t.Fatalf("at %v: GetRateCard = version %d, %v; want 1", tc.at, c.Version, err)
			}
			continue
		}
		if err != nil || got.Version != tc.want || got.Inventory.UnitPrice.Amount != tc.want*100 {
			t.Fatalf("at %v: version %d price %v, %v; want version %d", tc.at, got.Version, got.Inventory, err, tc.want)
		}
		viaGet, latest, err := s.RateCard(ctx, c.ID, 0, now)
		if err != nil || viaGet.Version != tc.want || latest != 5 {
			t.Fatalf("at %v: GetRateCard = version %d latest %d, %v", tc.at, viaGet.Version, latest, err)
		}
		list, err := s.ListRateCards(ctx, fare.RateCardFilter{}, "", 10, now)
		if err != nil || len(list) != 1 || list[0].Version != tc.want {
			t.Fatalf("at %v: ListRateCards = %v, %v", tc.at, list, err)
		}
	}

	// A departure's own card wins once it is in effect; before that the route's prices.
	d, err := s.CreateRateCard(ctx, card(seat("d1"), 999, t0.Add(time.Hour)), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{30 * time.Minute, c.ID}, {time.Hour, d.ID}} {
		got, err := inEffect(ctx, s, []fare.ProductKey{seat("d1"), seat("")}, t0.Add(tc.at))
		if err != nil || got.ID != tc.want {
			t.Fatalf("at %v: card %s, %v; want %s", tc.at, got.ID, err, tc.want)
		}
	}
}

// inEffect is the card RateCardsInEffect finds for one list of keys; ErrNotFound when
// none is in effect.
func inEffect(ctx context.Context, s *farepg.Store, keys []fare.ProductKey, now time.Time) (fare.RateCard, error) {
	cards, err := s.RateCardsInEffect(ctx, [][]fare.ProductKey{keys}, now)
	if err != nil {
		return fare.RateCard{}, err
	}
	if cards[0] == nil {
		return fare.RateCard{}, errs.NotFound
	}
	return *cards[0], nil
}

// TestRateCardsInEffectBatch: lists in one call get their own cards, a list repeated in
// the call gets the same card, and a list no card prices gets nil.
func TestRateCardsInEffectBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	route, err := s.CreateRateCard(ctx, card(seat(""), 100, t0), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := s.CreateRateCard(ctx, card(seat("d2"), 300, t0), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	byRoute := []fare.ProductKey{seat("d1"), seat("")}
	byDeparture := []fare.ProductKey{seat("d2"), seat("")}
	unpriced := []fare.ProductKey{{Kind: fare.KindStay, Stay: fare.StayProduct{PropertyID: "p", RoomType: "double"}}}
	cards, err := s.RateCardsInEffect(ctx, [][]fare.ProductKey{byRoute, byDeparture, unpriced, byRoute}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 4 || cards[0] == nil || cards[0].ID != route.ID || cards[1] == nil || cards[1].ID != dep.ID ||
		cards[2] != nil || cards[3] == nil || cards[3].ID != route.ID {
		t.Fatalf("cards = %v, want route, departure, none, route", cards)
	}
}

// TestFailedUpdateLeavesNoKey: an update whose change fails writes nothing, and leaves
// no idempotency key behind, so a retry of the same request id runs (and writes) then,
// and a retry after that replays the version it wrote, even after a later version.
func TestFailedUpdateLeavesNoKey(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	c, err := s.CreateRateCard(t.Context(), card(seat(""), 100, t0), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	key := idempotency.Key{Method: "UpdateRateCard", Subject: "test", RequestID: "r1", Hash: idempotency.Fingerprint("price 200")}
	staleErr := errs.Abort(fare.ReasonStaleVersion, "stale")
	_, err = s.UpdateRateCard(t.Context(), c.ID, key, func(fare.RateCard) (fare.RateCard, error) {
		return fare.RateCard{}, staleErr
	})
	if !errors.Is(err, staleErr) {
		t.Fatalf("err = %v, want %v", err, staleErr)
	}
	versions, err := s.RateCardVersions(t.Context(), c.ID, 0, 10)
	if err != nil || len(versions) != 1 {
		t.Fatalf("versions %v, %v; want only version 1", versions, err)
	}
	price := func(p int64) fare.UpdateFunc {
		return func(latest fare.RateCard) (fare.RateCard, error) {
			next := latest
			next.Inventory = &fare.InventoryPricing{UnitPrice: money.New(p, "EUR")}
			next.Version = latest.Version + 1
			return next, nil
		}
	}
	v2, err := s.UpdateRateCard(t.Context(), c.ID, key, price(200))
	if err != nil || v2.Version != 2 {
		t.Fatalf("retry after the failure = version %d, %v; want version 2 written", v2.Version, err)
	}
	update(t, s, c.ID, 300, t0) // version 3
	again, err := s.UpdateRateCard(t.Context(), c.ID, key, price(999))
	if err != nil || again.Version != 2 || again.Inventory.UnitPrice.Amount != 200 {
		t.Fatalf("replay = version %d price %v, %v; want version 2 at 200", again.Version, again.Inventory, err)
	}
	if versions, _ := s.RateCardVersions(t.Context(), c.ID, 0, 10); len(versions) != 3 {
		t.Fatalf("%d versions, want 3: the replay wrote one", len(versions))
	}
}
