package farepg_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/farepg"
)

// TestRateCardCacheBound: RateCardsInEffect reuses a version it read for less than
// CardCacheTTL of the caller's clock, never longer, whether the version was superseded
// by another process's write or by a later version coming into effect; a write through
// the same store is seen at once.
func TestRateCardCacheBound(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, "fare", farepg.Migrations)
	opts := farepg.Options{RateCardEvent: func(fare.RateCard) proto.Message { return &emptypb.Empty{} }}
	a, b := farepg.New(pool, opts), farepg.New(pool, opts) // two fare processes
	ctx := t.Context()
	c, err := a.CreateRateCard(ctx, card(seat(""), 100, t0), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []fare.ProductKey{seat("d1"), seat("")}
	price := func(at time.Time) int64 {
		t.Helper()
		got, err := inEffect(ctx, a, keys, at)
		if err != nil {
			t.Fatal(err)
		}
		return got.Inventory.UnitPrice.Amount
	}
	ttl := farepg.CardCacheTTL
	now := t0.Add(time.Hour)

	steps := []struct {
		name  string
		write func()
		at    time.Time
		want  int64
	}{
		{"first read", nil, now, 100},
		{"another process writes 200: the read version is reused", func() { update(t, b, c.ID, 200, t0) }, now, 100},
		{"just before the bound", nil, now.Add(ttl - time.Microsecond), 100},
		{"at the bound", nil, now.Add(ttl), 200},
		{"this process writes 300: seen at once", func() { update(t, a, c.ID, 300, t0) }, now.Add(ttl), 300},
		{"400 comes into effect later", func() { update(t, b, c.ID, 400, now.Add(ttl+ttl/2)) }, now.Add(ttl + ttl/2), 300},
		{"400 is seen within the bound of its effective time", nil, now.Add(2 * ttl), 400},
		{"a clock that went back does not reuse a later read", func() { update(t, b, c.ID, 500, t0) }, now.Add(ttl), 500},
	}
	for _, s := range steps {
		if s.write != nil {
			s.write()
		}
		if got := price(s.at); got != s.want {
			t.Errorf("%s: price %d, want %d", s.name, got, s.want)
		}
	}
}
