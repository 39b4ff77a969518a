package billinggrpc_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

// itemKinds are the kinds seeded items cycle through, over the three providers.
var itemKinds = []struct {
	kind     reservationv1.Kind
	provider string
}{
	{reservationv1.Kind_KIND_FLIGHT, "booking"},
	{reservationv1.Kind_KIND_RIDE, "trip"},
	{kindFerry, "ferry"},
	{reservationv1.Kind_KIND_STAY, "booking"},
}

// seed opens n bills for cust-1 with perBill items each, over the three providers, through
// the API, and returns the bill ids.
func (e *env) seed(t testing.TB, n, perBill int) []string {
	t.Helper()
	ctx := context.Background()
	prefix := fmt.Sprintf("s%d-", seq())
	byProvider := map[string][]providertest.Reservation{}
	for b := range n {
		for i := range perBill {
			k := itemKinds[i%len(itemKinds)]
			byProvider[k.provider] = append(byProvider[k.provider], providertest.Reservation{
				ID: fmt.Sprintf("%s%d-%d", prefix, b, i), Kind: k.kind, CustomerID: "cust-1", Amount: int64(1000 + i),
				Status: reservationv1.MainStatus_MAIN_STATUS_CONFIRMED, Title: fmt.Sprintf("item %d of bill %d", i, b),
			})
		}
	}
	for p, rs := range byProvider {
		if err := e.providers[p].Create(ctx, rs...); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for b := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			resp, err := e.operator.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR"})
			if err != nil {
				errs <- err
				return
			}
			ids[b] = resp.GetBill().GetId()
			for i := range perBill {
				k := itemKinds[i%len(itemKinds)]
				if _, err := e.operator.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: ids[b], Kind: k.kind,
					ReservationId: fmt.Sprintf("%s%d-%d", prefix, b, i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// listFull lists one FULL page.
func (e *env) listFull(t testing.TB, ctx context.Context, size int) *billingv1.ListBillsResponse {
	t.Helper()
	resp, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: int32(size), View: typev1.View_VIEW_FULL})
	if err != nil {
		t.Fatalf("ListBills FULL: %v", err)
	}
	return resp
}

func TestCallBudget(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.seed(t, 200, 4)
	ctx := grpctest.Context(t)
	for _, size := range []int{50, 200} {
		e.calls.Reset()
		page := e.listFull(t, ctx, size)
		items := 0
		for _, b := range page.GetBills() {
			for _, it := range b.GetItems() {
				items++
				if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK || it.GetDetails().GetId() != it.GetReservationId() ||
					len(it.GetDetails().GetTimeline()) == 0 {
					t.Fatalf("item %s: details %v (%s)", it.GetReservationId(), it.GetDetailsStatus(), it.GetDetailsError())
				}
			}
		}
		if len(page.GetBills()) != size || items != 4*size {
			t.Fatalf("page of %d: %d bills, %d items", size, len(page.GetBills()), items)
		}
		per := e.calls.Targets(detailsMethod)
		if total := e.calls.Count(detailsMethod); total != 3 || len(per) != 3 {
			t.Fatalf("page of %d bills (%d items) made %d GetReservationDetails calls %v, want exactly 3 (one per provider)", size, items, total, per)
		}
	}
	// GetBill in a view with details: one call per provider of the bill.
	id := e.listFull(t, ctx, 1).GetBills()[0].GetId()
	e.calls.Reset()
	one, err := e.operator.GetBill(ctx, &billingv1.GetBillRequest{BillId: id, View: typev1.View_VIEW_STANDARD})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.calls.Count(detailsMethod); n != 3 {
		t.Fatalf("GetBill of a bill with items of 3 providers made %d calls, want 3", n)
	}
	for _, it := range one.GetBill().GetItems() {
		if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK || len(it.GetDetails().GetTimeline()) != 0 {
			t.Fatalf("STANDARD item = %v", it)
		}
	}
}

func TestPanelDegradesPerProvider(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *billingapp.Config) {
		// Far below the stall and the pages' 2 s deadline, far above a healthy provider's
		// answer even on a loaded machine under the race detector.
		c.DetailsTimeout = time.Second
		c.BreakerCooldown = time.Hour // the circuit stays open for the whole test
		c.StaleAfter = time.Hour      // freshness here follows the stream's connection only
		// This test is about fetching: with billing's copy of the details, a stalled
		// provider's unchanged items would still show them (TestDetailsCache).
		c.DetailsCacheSize = -1
	})
	e.seed(t, 40, 3)
	ctx := grpctest.Context(t)
	check := func(page *billingv1.ListBillsResponse, down string, wantErr string) {
		t.Helper()
		if len(page.GetBills()) != 40 {
			t.Fatalf("page has %d bills, want 40", len(page.GetBills()))
		}
		for _, b := range page.GetBills() {
			for _, it := range b.GetItems() {
				switch {
				case it.GetProvider() != down:
					if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK {
						t.Fatalf("%s item: details %v (%s), want OK", it.GetProvider(), it.GetDetailsStatus(), it.GetDetailsError())
					}
				case it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_UNAVAILABLE || it.GetDetails() != nil:
					t.Fatalf("%s item: details %v, want UNAVAILABLE", down, it.GetDetailsStatus())
				case wantErr != "" && it.GetDetailsError() != wantErr:
					t.Fatalf("%s item: details error %q, want %q", down, it.GetDetailsError(), wantErr)
				case it.GetTitle() == "" || it.GetAmount() == nil || it.GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_CONFIRMED:
					t.Fatalf("%s item lost its summary: %v", down, it)
				}
			}
		}
	}
	check(e.listFull(t, ctx, 40), "", "")

	// A stalled provider: its items are unavailable, the page still answers in time.
	e.providers["ferry"].SetDelay(5 * time.Second)
	for range 2 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second) // well below the stall
		check(e.listFull(t, pctx, 40), "ferry", "provider deadline exceeded")
		cancel()
	}
	e.providers["ferry"].SetDelay(0)

	// A provider killed during panel queries: pages keep answering, its items
	// unavailable, the others complete; once its circuit is open it is not called.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(50 * time.Millisecond)
		e.providers["trip"].Stop()
		close(stop)
	}()
	for range 5 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := e.operator.ListBills(pctx, &billingv1.ListBillsRequest{PageSize: 40, View: typev1.View_VIEW_FULL}); err != nil {
			t.Fatalf("page while the provider was being killed: %v", err)
		}
		cancel()
	}
	wg.Wait()
	<-stop
	for range 4 { // enough failures to open the circuit
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		check(e.listFull(t, pctx, 40), "trip", "")
		cancel()
	}
	tripAddr := e.providers["trip"].Addr()
	before := e.calls.Targets(detailsMethod)[tripAddr]
	for range 10 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		check(e.listFull(t, pctx, 40), "trip", "provider circuit open: it failed recently; retrying later")
		cancel()
	}
	if after := e.calls.Targets(detailsMethod)[tripAddr]; after != before {
		t.Fatalf("open circuit still called the provider %d times", after-before)
	}
	// Its items' summaries become stale, the others stay fresh.
	grpctest.Eventually(t, 10*time.Second, "trip's items stale", func() bool {
		page := e.listFull(t, ctx, 40)
		for _, b := range page.GetBills() {
			for _, it := range b.GetItems() {
				want := billingv1.FreshnessState_FRESHNESS_STATE_FRESH
				if it.GetProvider() == "trip" {
					want = billingv1.FreshnessState_FRESHNESS_STATE_STALE
				}
				if it.GetFreshness() != want {
					return false
				}
			}
		}
		return true
	})
}

// TestBreakerProbesAndRecovers: after trip fails enough pages, its circuit opens: pages
// no longer call it, even once it is back, until the cooldown ends and a probe finds it
// answering.
func TestBreakerProbesAndRecovers(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *billingapp.Config) { c.BreakerCooldown = 3 * time.Second })
	e.seed(t, 5, 3)
	ctx := grpctest.Context(t)
	e.providers["trip"].Stop()
	for range 4 {
		e.listFull(t, ctx, 5)
	}
	if err := e.providers["trip"].Restart(); err != nil {
		t.Fatal(err)
	}
	before := e.providers["trip"].Calls.Load()
	for range 3 {
		e.listFull(t, ctx, 5)
	}
	if n := e.providers["trip"].Calls.Load() - before; n != 0 {
		t.Fatalf("trip was called %d times while its circuit was open", n)
	}
	grpctest.Eventually(t, 10*time.Second, "trip's details back after the circuit's probe", func() bool {
		for _, b := range e.listFull(t, ctx, 5).GetBills() {
			for _, it := range b.GetItems() {
				if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK {
					return false
				}
			}
		}
		return true
	})
	grpctest.Eventually(t, 10*time.Second, "trip's items fresh again", func() bool {
		for _, b := range e.listFull(t, ctx, 5).GetBills() {
			for _, it := range b.GetItems() {
				if it.GetFreshness() != billingv1.FreshnessState_FRESHNESS_STATE_FRESH {
					return false
				}
			}
		}
		return true
	})
}

// TestPanelPassesDetailsThrough checks that a FULL page's details are exactly what each
// provider answers for the reservation (billing forwards them without decoding), and
// that bills come most recently changed first, ties by id descending, with their items
// in position order, in every view and across pages.
func TestPanelPassesDetailsThrough(t *testing.T) {
	t.Parallel()
	e := start(t)
	ids := e.seed(t, 9, 5)
	ctx := grpctest.Context(t)
	// Six bills share one update time, so that only the id orders them.
	if _, err := e.pool.Exec(ctx, `UPDATE bills SET update_time = now() + interval '1 hour' WHERE id = ANY($1::uuid[])`, ids[:6]); err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `SELECT id::text FROM bills ORDER BY update_time DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	wantOrder, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}

	direct := map[string]reservationv1.ReservationProviderServiceClient{}
	for name, p := range e.providers {
		direct[name] = reservationv1.NewReservationProviderServiceClient(grpctest.Dial(t, p.Addr(), auth.Identity{Subject: "billing", Role: auth.RoleService}))
	}

	for _, view := range []typev1.View{typev1.View_VIEW_BASIC, typev1.View_VIEW_FULL} {
		var got []string
		token := ""
		for {
			resp, err := e.operator.ListBills(ctx, &billingv1.ListBillsRequest{PageSize: 4, PageToken: token, View: view})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range resp.GetBills() {
				got = append(got, b.GetId())
				var items []string
				for i, it := range b.GetItems() {
					items = append(items, it.GetId())
					if view != typev1.View_VIEW_FULL {
						continue
					}
					want, err := direct[it.GetProvider()].GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{
						Ids: []string{it.GetReservationId()}, View: typev1.View_VIEW_FULL})
					if err != nil {
						t.Fatal(err)
					}
					if !proto.Equal(it.GetDetails(), want.GetResults()[0].GetDetails()) || it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK {
						t.Fatalf("bill %s item %d: details %v\nprovider sent %v", b.GetId(), i, it.GetDetails(), want.GetResults()[0].GetDetails())
					}
				}
				rows, err := e.pool.Query(ctx, `SELECT id::text FROM bill_items WHERE bill_id = $1 ORDER BY position`, b.GetId())
				if err != nil {
					t.Fatal(err)
				}
				wantItems, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(items, wantItems) {
					t.Fatalf("%v: bill %s items %v, want %v", view, b.GetId(), items, wantItems)
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if !slices.Equal(got, wantOrder) {
			t.Fatalf("%v: bills in order %v, want %v", view, got, wantOrder)
		}
	}
}
