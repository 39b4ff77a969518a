package billinggrpc_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

// kindHover is another new kind, served by a provider whose event payloads billing cannot
// read: billing refreshes its items with GetReservationDetails.
const kindHover = reservationv1.Kind(7)

// fourProviders adds the opaque-payload provider to the usual three.
var fourProviders = append(append([]providerSpec(nil), threeProviders...),
	providerSpec{"hover", []string{"7"}, providertest.PayloadOpaque})

func TestReadModelFollowsProviderEvents(t *testing.T) {
	t.Parallel()
	e := startWith(t, fourProviders)
	ctx := grpctest.Context(t)
	cases := []struct {
		provider string
		kind     reservationv1.Kind
	}{
		{"booking", reservationv1.Kind_KIND_FLIGHT}, // booking's payload
		{"trip", reservationv1.Kind_KIND_RIDE},      // trip's payload
		{"ferry", kindFerry},                        // the common ReservationDetails payload
		{"hover", kindHover},                        // unreadable payload: billing fetches the details
	}
	for _, c := range cases {
		t.Run(c.provider, func(t *testing.T) {
			bill := e.openBill(t)
			id := e.reserve(t, c.provider, providertest.Reservation{Kind: c.kind, CustomerID: "cust-1", Amount: 5000, Title: "before"})
			// An event about a reservation on no bill changes nothing.
			e.reserve(t, c.provider, providertest.Reservation{Kind: c.kind, CustomerID: "cust-9", Amount: 1})
			added := e.add(t, bill.GetId(), c.kind, id)
			v0 := added.GetBill().GetVersion()

			item := func() *billingv1.BillItem {
				got, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: bill.GetId()})
				if err != nil {
					t.Fatal(err)
				}
				return got.GetBill().GetItems()[0]
			}
			changed := time.Now()
			if _, err := e.providers[c.provider].Update(ctx, id, func(r *providertest.Reservation) {
				r.Status = reservationv1.MainStatus_MAIN_STATUS_CONFIRMED
				r.Amount = 6500
				r.SubStatus = "seat_selected"
			}); err != nil {
				t.Fatal(err)
			}
			grpctest.Eventually(t, 10*time.Second, "confirmation in the read model", func() bool {
				it := item()
				return it.GetMainStatus() == reservationv1.MainStatus_MAIN_STATUS_CONFIRMED && it.GetAmount().GetAmountMinor() == 6500 &&
					it.GetSubStatus() == "seat_selected" && it.GetProviderVersion() == 2
			})
			t.Logf("%s: the item showed the confirmation after %v", c.provider, time.Since(changed).Round(time.Millisecond))
			got, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: bill.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			b := got.GetBill()
			if b.GetVersion() <= v0 || b.GetTotals()[0].GetAmountMinor() != 6500 || b.GetItems()[0].GetTitle() != "before" {
				t.Fatalf("bill after the event = %v (version was %d)", b, v0)
			}
			if it := b.GetItems()[0]; it.GetFreshness() != billingv1.FreshnessState_FRESHNESS_STATE_FRESH || it.GetAsOfTime() == nil {
				t.Fatalf("item freshness %v as of %v", it.GetFreshness(), it.GetAsOfTime())
			}
			if _, err := e.providers[c.provider].Update(ctx, id, func(r *providertest.Reservation) {
				r.Status = reservationv1.MainStatus_MAIN_STATUS_CANCELLED
			}); err != nil {
				t.Fatal(err)
			}
			grpctest.Eventually(t, 10*time.Second, "cancellation in the read model", func() bool {
				return item().GetMainStatus() == reservationv1.MainStatus_MAIN_STATUS_CANCELLED
			})
			// A cancelled item counts as zero; a bill of only cancelled items is empty.
			_, err = e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: bill.GetId()})
			grpctest.WantReason(t, err, codes.FailedPrecondition, "BILL_EMPTY")
		})
	}
}

// TestNewProviderByConfigurationOnly starts a provider of a kind billing has never heard
// of, and a billing process configured with one more line for it: nothing else changes.
func TestNewProviderByConfigurationOnly(t *testing.T) {
	t.Parallel()
	ps := startProviders(t, threeProviders[:2])
	e := startBilling(t, newBillingDB(t), ps, providersFlag(threeProviders[:2], ps))
	ctx := grpctest.Context(t)
	bill := e.openBill(t)
	_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: kindFerry, ReservationId: "f-1"})
	grpctest.WantField(t, err, "kind")

	// The third provider, started just for this test.
	third := startProviders(t, threeProviders[2:])
	for k, v := range third {
		ps[k] = v
	}
	e2 := startBilling(t, e.pool, ps, providersFlag(threeProviders, ps))
	id := e2.reserve(t, "ferry", providertest.Reservation{Kind: kindFerry, CustomerID: "cust-1", Amount: 4200, Title: "Ferry Dover → Calais"})
	e2.add(t, bill.GetId(), kindFerry, id)
	page := e2.listFull(t, ctx, 10)
	it := page.GetBills()[0].GetItems()[0]
	if it.GetProvider() != "ferry" || it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK || it.GetDetails().GetTitle() != "Ferry Dover → Calais" {
		t.Fatalf("ferry item = %v", it)
	}
	if _, err := ps["ferry"].Update(ctx, id, func(r *providertest.Reservation) { r.Status = reservationv1.MainStatus_MAIN_STATUS_CONFIRMED }); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the ferry's confirmation", func() bool {
		got, err := e2.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: bill.GetId()})
		return err == nil && got.GetBill().GetItems()[0].GetMainStatus() == reservationv1.MainStatus_MAIN_STATUS_CONFIRMED
	})
}

func TestRestartDuringBurstMatchesRebuild(t *testing.T) {
	t.Parallel()
	ps := startProviders(t, threeProviders)
	pool := newBillingDB(t)
	flag := providersFlag(threeProviders, ps)
	first := startBilling(t, pool, ps, flag)
	first.seed(t, 10, 3)

	// A burst of provider changes, during which billing is stopped and started again.
	var reservations []struct{ provider, id string }
	rows, err := pool.Query(context.Background(), `SELECT provider, reservation_id FROM bill_items`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r struct{ provider, id string }
		if err := rows.Scan(&r.provider, &r.id); err != nil {
			t.Fatal(err)
		}
		reservations = append(reservations, r)
	}
	burst := func(round int) {
		for i, r := range reservations {
			if _, err := ps[r.provider].Update(context.Background(), r.id, func(x *providertest.Reservation) {
				x.Amount += int64(round*100 + i)
				x.SubStatus = fmt.Sprintf("round-%d", round)
			}); err != nil {
				t.Error(err)
			}
		}
	}
	burst(1)
	first.stop()
	burst(2)
	second := startBilling(t, pool, ps, flag)
	burst(3)

	want := func(e *env) map[string]string {
		rows, err := e.pool.Query(context.Background(), `SELECT provider || '/' || reservation_id, format('%s %s %s %s %s', main_status, sub_status, amount_minor, currency_code, provider_version) FROM reservation_summaries`)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			m[k] = v
		}
		return m
	}
	caughtUp := func(m map[string]string) bool {
		for _, r := range reservations {
			if !strings.HasSuffix(m[r.provider+"/"+r.id], " 4") {
				return false
			}
		}
		return len(m) == len(reservations)
	}
	var restarted map[string]string
	grpctest.Eventually(t, 30*time.Second, "the restarted read model caught up", func() bool {
		restarted = want(second)
		return caughtUp(restarted)
	})

	// The read model rebuilt from scratch: its summaries and cursors dropped, a new
	// billing process replays every provider's stream from the start.
	second.stop()
	if _, err := pool.Exec(context.Background(), `TRUNCATE reservation_summaries; DELETE FROM consumer_cursors`); err != nil {
		t.Fatal(err)
	}
	rebuilt := startBilling(t, pool, ps, flag)
	grpctest.Eventually(t, 30*time.Second, "the rebuilt read model caught up", func() bool { return caughtUp(want(rebuilt)) })
	if got := want(rebuilt); !maps.Equal(got, restarted) {
		t.Fatalf("rebuilt read model differs from the restarted one:\nrebuilt   %v\nrestarted %v", got, restarted)
	}
}

// TestReadModelTracksOnlyBilledReservations: the events of reservations on no bill write
// nothing to billing's read model, and a reservation being added is followed from
// before its details are fetched, so no event falls between the details and the item.
func TestReadModelTracksOnlyBilledReservations(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *billingapp.Config) { c.DetailsTimeout = 20 * time.Second })
	ctx := grpctest.Context(t)
	unbilled := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_FLIGHT, CustomerID: "cust-1", Amount: 700})
	if _, err := e.providers["booking"].Update(ctx, unbilled, func(r *providertest.Reservation) { r.SubStatus = "seat 12A" }); err != nil {
		t.Fatal(err)
	}
	billed := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_FLIGHT, CustomerID: "cust-1", Amount: 900})
	bill := e.openBill(t)

	// The details call of AddBillItem is held up; meanwhile the reservation changes,
	// and billing applies that event although the reservation is on no bill yet.
	e.providers["booking"].SetDelay(5 * time.Second)
	added := make(chan error, 1)
	go func() {
		_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: billed})
		added <- err
	}()
	grpctest.Eventually(t, 10*time.Second, "billing to track the reservation being added", func() bool {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM reservation_summaries WHERE reservation_id = $1`, billed).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	if _, err := e.providers["booking"].Update(ctx, billed, func(r *providertest.Reservation) { r.SubStatus = "seat 3C" }); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the event applied before the item exists", func() bool {
		var sub string
		if err := e.pool.QueryRow(ctx, `SELECT sub_status FROM reservation_summaries WHERE reservation_id = $1`, billed).Scan(&sub); err != nil {
			t.Fatal(err)
		}
		return sub == "seat 3C"
	})
	select {
	case <-added:
		t.Fatal("billing applied the event only with the item: it did not follow the reservation while adding it")
	default:
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	e.providers["booking"].SetDelay(0)
	got, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: bill.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if it := got.GetBill().GetItems()[0]; it.GetSubStatus() != "seat 3C" {
		t.Fatalf("item = %v, want sub-status seat 3C", it)
	}

	// By now the feed has passed the unbilled reservation's events: they wrote nothing.
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM reservation_summaries WHERE reservation_id = $1`, unbilled).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("billing stored a summary of a reservation on no bill")
	}
}
