package billinggrpc_test

import (
	"context"
	"testing"
	"time"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

// TestDetailsCache: a page serves the details billing already holds at the version of
// its FRESH summaries without calling their providers; a changed reservation is fetched
// again (only its provider is called); a stalled provider's unchanged items keep their
// details and its changed one is unavailable; a provider that is down makes its items
// STALE and unavailable, as without the cache.
func TestDetailsCache(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *billingapp.Config) {
		c.DetailsTimeout = time.Second // far below the stall, far above a healthy answer
		c.BreakerCooldown = time.Hour
		c.StaleAfter = time.Hour // freshness here follows the stream's connection only
	})
	e.seed(t, 10, 3) // items at booking, trip and ferry
	ctx := grpctest.Context(t)
	full := func(ctx context.Context) *billingv1.ListBillsResponse {
		t.Helper()
		return e.listFull(t, ctx, 10)
	}
	item := func(page *billingv1.ListBillsResponse, provider string) *billingv1.BillItem {
		t.Helper()
		for _, b := range page.GetBills() {
			for _, it := range b.GetItems() {
				if it.GetProvider() == provider {
					return it
				}
			}
		}
		t.Fatalf("no %s item on the page", provider)
		return nil
	}
	// waitSummary waits until billing's summary of the reservation has sub-status sub.
	waitSummary := func(resID, sub string) {
		t.Helper()
		grpctest.Eventually(t, 10*time.Second, "billing to apply "+resID+"'s change", func() bool {
			page, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page.GetBills() {
				for _, it := range b.GetItems() {
					if it.GetReservationId() == resID {
						return it.GetSubStatus() == sub
					}
				}
			}
			return false
		})
	}

	e.calls.Reset() // AddBillItem's calls
	first := full(ctx)
	if n := e.calls.Count(detailsMethod); n != 3 {
		t.Fatalf("first FULL page made %d calls, want 3", n)
	}
	e.calls.Reset()
	second := full(ctx)
	if n := e.calls.Count(detailsMethod); n != 0 {
		t.Fatalf("an unchanged FULL page made %d calls, want 0", n)
	}
	if !samePage(first, second) {
		t.Fatal("the page served from billing's copy differs from the page fetched")
	}
	for _, b := range second.GetBills() {
		for _, it := range b.GetItems() {
			if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK || it.GetFreshness() != billingv1.FreshnessState_FRESHNESS_STATE_FRESH ||
				it.GetDetails().GetVersion() != it.GetProviderVersion() || len(it.GetDetails().GetTimeline()) == 0 {
				t.Fatalf("cached item %v", it)
			}
		}
	}
	// Another view is kept apart: STANDARD details have no timeline.
	std, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: 10, View: typev1.View_VIEW_STANDARD})
	if err != nil {
		t.Fatal(err)
	}
	if it := item(std, "booking"); it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK || len(it.GetDetails().GetTimeline()) != 0 {
		t.Fatalf("STANDARD item after FULL pages = %v", it)
	}

	// A changed reservation: its provider is called again, once, and the page shows the change.
	changed := item(second, "booking").GetReservationId()
	if _, err := e.providers["booking"].Update(ctx, changed, func(r *providertest.Reservation) { r.SubStatus = "seat 3C" }); err != nil {
		t.Fatal(err)
	}
	waitSummary(changed, "seat 3C")
	e.calls.Reset()
	third := full(ctx)
	per := e.calls.Targets(detailsMethod)
	if n := e.calls.Count(detailsMethod); n != 1 || per[e.providers["booking"].Addr()] != 1 {
		t.Fatalf("after one booking change the page made calls %v, want one to booking", per)
	}
	if it := item(third, "booking"); it.GetReservationId() != changed || it.GetDetails().GetSubStatus() != "seat 3C" || it.GetDetails().GetVersion() != 2 {
		t.Fatalf("changed item's details = %v", it.GetDetails())
	}

	// A stalled provider: its unchanged items keep their details, its changed one is
	// unavailable, and the page answers in time.
	e.providers["ferry"].SetDelay(5 * time.Second)
	stale := item(third, "ferry").GetReservationId()
	if _, err := e.providers["ferry"].Update(ctx, stale, func(r *providertest.Reservation) { r.SubStatus = "moved" }); err != nil {
		t.Fatal(err)
	}
	waitSummary(stale, "moved")
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	page := full(pctx)
	cancel()
	for _, b := range page.GetBills() {
		for _, it := range b.GetItems() {
			want := billingv1.DetailsStatus_DETAILS_STATUS_OK
			if it.GetReservationId() == stale {
				want = billingv1.DetailsStatus_DETAILS_STATUS_UNAVAILABLE
			}
			if it.GetDetailsStatus() != want {
				t.Fatalf("with ferry stalled, item %s: %v (%s), want %v", it.GetReservationId(), it.GetDetailsStatus(), it.GetDetailsError(), want)
			}
		}
	}
	e.providers["ferry"].SetDelay(0)

	// A provider that is down: its stream breaks, its items are STALE, and their details
	// are fetched (and fail) rather than served from billing's copy.
	e.providers["trip"].Stop()
	grpctest.Eventually(t, 10*time.Second, "trip's items stale and unavailable", func() bool {
		page := full(ctx)
		for _, b := range page.GetBills() {
			for _, it := range b.GetItems() {
				if it.GetProvider() != "trip" {
					if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK {
						t.Fatalf("%s item with trip down: %v", it.GetProvider(), it.GetDetailsStatus())
					}
					continue
				}
				if it.GetFreshness() != billingv1.FreshnessState_FRESHNESS_STATE_STALE ||
					it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_UNAVAILABLE || it.GetDetails() != nil {
					return false
				}
			}
		}
		return true
	})
}
