package faregrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/fare/fare"
)

// TestCustomerCannotSetServerFields: fare's only writes are rate cards and surges, which
// set prices and multipliers every customer pays: customers and drivers are refused with
// PERMISSION_DENIED before anything is written, whatever field they set; and what an
// operator sends in a card's output-only fields (id, author, version, times) is ignored,
// as the proto documents (issue 11, finding 5).
func TestCustomerCannotSetServerFields(t *testing.T) {
	t.Parallel()
	h := start(t)
	card := h.create(t, inventoryCard(seatKey(""), 100))
	ctx := grpctest.Context(t)
	writes := []struct {
		field string
		call  func(c farev1.FareServiceClient) error
	}{
		{"rate_card", func(c farev1.FareServiceClient) error {
			_, err := c.CreateRateCard(ctx, &farev1.CreateRateCardRequest{RateCard: inventoryCard(stayKey(), 1)})
			return err
		}},
		{"rate_card.inventory.unit_price", func(c farev1.FareServiceClient) error {
			_, err := c.UpdateRateCard(ctx, &farev1.UpdateRateCardRequest{
				RateCard:   &farev1.RateCard{Id: card.GetId(), Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(1)}}},
				UpdateMask: update("inventory")})
			return err
		}},
		{"rate_card.dynamic_pricing", func(c farev1.FareServiceClient) error {
			_, err := c.UpdateRateCard(ctx, &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: card.GetId()}, UpdateMask: update("dynamic_pricing")})
			return err
		}},
		{"surge.multiplier_bps", func(c farev1.FareServiceClient) error {
			_, err := c.SetSurge(ctx, &farev1.SetSurgeRequest{Surge: &farev1.Surge{City: "berlin", Zone: "default", MultiplierBps: 10000}})
			return err
		}},
	}
	for _, w := range writes {
		for name, c := range map[string]farev1.FareServiceClient{"customer": h.customer, "driver": h.driver} {
			t.Run(w.field+" by "+name, func(t *testing.T) {
				grpctest.WantCode(t, w.call(c), codes.PermissionDenied)
			})
		}
	}
	if n := h.count(t, "rate_card_version"); n != 1 {
		t.Fatalf("refused writes left %d versions, want 1", n)
	}
	if n := h.count(t, "surge"); n != 0 {
		t.Fatalf("refused writes left %d surges, want 0", n)
	}

	// An operator's output-only fields are ignored.
	in := inventoryCard(stayKey(), 5000)
	in.Id, in.Author, in.Version = "00000000-0000-0000-0000-000000000001", "someone-else", 7
	in.CreateTime, in.UpdateTime = timestamp(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)), timestamp(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	got := h.create(t, in)
	if got.GetId() == in.GetId() || got.GetAuthor() != "ops-anna" || got.GetVersion() != 1 || got.GetCreateTime().AsTime().Year() == 2001 {
		t.Fatalf("output-only fields were applied: %v", got)
	}
}

// TestIDsAndDatesAreBounded: rate card ids must be UUIDs, and every date lies in what the
// business allows (stays quoted at most MaxAdvanceDays ahead, versions scheduled at most
// five years ahead, surges expiring within MaxSurgeDuration); anything else is
// INVALID_ARGUMENT naming the field, and writes nothing (issue 11, finding 8).
func TestIDsAndDatesAreBounded(t *testing.T) {
	t.Parallel()
	h := start(t)
	card := h.create(t, inventoryCard(stayKey(), 100))
	const bad = "not-a-uuid"
	ctx := grpctest.Context(t)
	far := future(fare.MaxAdvanceDays + 2)
	tests := []struct {
		name, field string
		call        func(ctx context.Context) error
	}{
		{"GetRateCard", "rate_card_id", func(ctx context.Context) error {
			_, err := h.customer.GetRateCard(ctx, &farev1.GetRateCardRequest{RateCardId: bad})
			return err
		}},
		{"UpdateRateCard", "rate_card.id", func(ctx context.Context) error {
			_, err := h.operator.UpdateRateCard(ctx, &farev1.UpdateRateCardRequest{RateCard: &farev1.RateCard{Id: bad, Description: "x"}, UpdateMask: update("description")})
			return err
		}},
		{"ListRateCardVersions", "rate_card_id", func(ctx context.Context) error {
			_, err := h.customer.ListRateCardVersions(ctx, &farev1.ListRateCardVersionsRequest{RateCardId: bad})
			return err
		}},
		{"QuoteInventory beyond the horizon", "check_in_date", func(ctx context.Context) error {
			out := future(fare.MaxAdvanceDays + 4)
			_, err := h.customer.QuoteInventory(ctx, &farev1.QuoteInventoryRequest{ProductKey: stayKey(), Quantity: 1, CheckInDate: far, CheckOutDate: out,
				Load: &farev1.QuoteInventoryRequest_LoadFactorBps{LoadFactorBps: 0}})
			return err
		}},
		{"CreateRateCard effective in 10 years", "rate_card.effective_time", func(ctx context.Context) error {
			c := inventoryCard(seatKey(""), 100)
			c.EffectiveTime = timestamp(time.Now().AddDate(10, 0, 0))
			_, err := h.operator.CreateRateCard(ctx, &farev1.CreateRateCardRequest{RateCard: c})
			return err
		}},
		{"UpdateRateCard effective in year 9000", "rate_card.effective_time", func(ctx context.Context) error {
			_, err := h.operator.UpdateRateCard(ctx, &farev1.UpdateRateCardRequest{
				RateCard: &farev1.RateCard{Id: card.GetId(), EffectiveTime: timestamp(time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC))}, UpdateMask: update("effective_time")})
			return err
		}},
		{"SetSurge expiring in 5 years", "surge.expire_time", func(ctx context.Context) error {
			_, err := h.operator.SetSurge(ctx, &farev1.SetSurgeRequest{Surge: &farev1.Surge{City: "berlin", Zone: "default", MultiplierBps: 20000,
				ExpireTime: timestamp(time.Now().AddDate(5, 0, 0))}})
			return err
		}},
	}
	versions, surges, quotes := h.count(t, "rate_card_version"), h.count(t, "surge"), h.count(t, "quote")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { grpctest.WantField(t, tc.call(ctx), tc.field) })
	}
	if h.count(t, "rate_card_version") != versions || h.count(t, "surge") != surges || h.count(t, "quote") != quotes {
		t.Fatal("bad input wrote something")
	}
	// The bounds themselves are accepted.
	if _, err := h.customer.QuoteInventory(ctx, &farev1.QuoteInventoryRequest{ProductKey: stayKey(), Quantity: 1,
		CheckInDate: future(fare.MaxAdvanceDays - 1), CheckOutDate: future(fare.MaxAdvanceDays + 1),
		Load: &farev1.QuoteInventoryRequest_LoadFactorBps{LoadFactorBps: 0}}); err != nil {
		t.Fatalf("a stay within the horizon: %v", err)
	}
}
