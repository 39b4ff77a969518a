package billinggrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

// watcher reads a WatchBills stream in the background.
type watcher struct {
	msgs chan *billingv1.WatchBillsResponse
	errc chan error
}

func watchBills(t *testing.T, c billingv1.BillingServiceClient, req *billingv1.WatchBillsRequest) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := c.WatchBills(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{msgs: make(chan *billingv1.WatchBillsResponse, 1000), errc: make(chan error, 1)}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				w.errc <- err
				return
			}
			w.msgs <- m
		}
	}()
	return w
}

// next returns the next message that is not a heartbeat and for which keep is true.
func (w *watcher) next(t *testing.T, what string, keep func(*billingv1.WatchBillsResponse) bool) *billingv1.WatchBillsResponse {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-w.msgs:
			if !m.GetHeartbeat() && keep(m) {
				return m
			}
		case err := <-w.errc:
			t.Fatalf("waiting for %s: stream ended: %v", what, err)
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func ofType(ct billingv1.BillChangeType) func(*billingv1.WatchBillsResponse) bool {
	return func(m *billingv1.WatchBillsResponse) bool { return m.GetChangeType() == ct }
}

func TestWatchBills(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *billingapp.Config) { c.StaleAfter = time.Hour })
	ctx := grpctest.Context(t)
	// Wait until billing follows trip's stream (a trip item reads FRESH), so that trip
	// going down below is a change the watch must announce; under load the feed may
	// connect after the watch starts. The probe bill is cancelled: the snapshot of OPEN
	// bills does not show it.
	probe := e.openBill(t)
	e.add(t, probe.GetId(), reservationv1.Kind_KIND_RIDE,
		e.reserve(t, "trip", providertest.Reservation{Kind: reservationv1.Kind_KIND_RIDE, CustomerID: "cust-1", Amount: 100}))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := e.operator.GetBill(ctx, &billingv1.GetBillRequest{BillId: probe.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetBill().GetItems()[0].GetFreshness() == billingv1.FreshnessState_FRESHNESS_STATE_FRESH {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("billing never caught up with trip's stream")
		}
	}
	if _, err := e.customer.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: probe.GetId()}); err != nil {
		t.Fatal(err)
	}
	existing := e.openBill(t)
	res := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_FLIGHT, CustomerID: "cust-1", Amount: 700})

	w := watchBills(t, e.operator, &billingv1.WatchBillsRequest{IncludeSnapshot: true,
		Statuses: []billingv1.BillStatus{billingv1.BillStatus_BILL_STATUS_OPEN}})
	snap := w.next(t, "the snapshot", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_SNAPSHOT))
	if snap.GetBill().GetId() != existing.GetId() {
		t.Fatalf("snapshot of %s, want %s", snap.GetBill().GetId(), existing.GetId())
	}
	w.next(t, "the snapshot's end", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE))
	mine := watchBills(t, e.customer, &billingv1.WatchBillsRequest{})

	bill := e.openBill(t)
	created := w.next(t, "the new bill", func(m *billingv1.WatchBillsResponse) bool {
		return m.GetChangeType() == billingv1.BillChangeType_BILL_CHANGE_TYPE_CREATED && m.GetBill().GetId() == bill.GetId()
	})
	if created.GetBill().GetId() != bill.GetId() || created.GetCursor() == "" {
		t.Fatalf("created = %v", created)
	}
	added := e.add(t, bill.GetId(), reservationv1.Kind_KIND_FLIGHT, res)
	ia := w.next(t, "the item", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_ITEM_ADDED))
	if ia.GetItemId() != added.GetItemId() || len(ia.GetBill().GetItems()) != 1 {
		t.Fatalf("item added = %v", ia)
	}
	if _, err := e.providers["booking"].Update(ctx, res, func(r *providertest.Reservation) { r.Status = reservationv1.MainStatus_MAIN_STATUS_CONFIRMED }); err != nil {
		t.Fatal(err)
	}
	iu := w.next(t, "the provider's change", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_ITEM_UPDATED))
	if it := iu.GetBill().GetItems()[0]; it.GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_CONFIRMED ||
		it.GetFreshness() != billingv1.FreshnessState_FRESHNESS_STATE_FRESH {
		t.Fatalf("updated item = %v", it)
	}
	resumeFrom := iu.GetCursor()
	if _, err := e.customer.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: bill.GetId()}); err != nil {
		t.Fatal(err)
	}
	left := w.next(t, "the bill leaving OPEN", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_UPDATED))
	if !left.GetLeftFilter() || left.GetBill().GetStatus() != billingv1.BillStatus_BILL_STATUS_FINALIZED {
		t.Fatalf("finalize seen as %v", left)
	}
	// The customer's own stream saw the same bill's changes.
	mine.next(t, "the customer's item update", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_ITEM_UPDATED))

	// Resuming after a cursor replays what came after it.
	r := watchBills(t, e.operator, &billingv1.WatchBillsRequest{AfterCursor: resumeFrom})
	again := r.next(t, "the replayed finalize", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_UPDATED))
	if again.GetBill().GetStatus() != billingv1.BillStatus_BILL_STATUS_FINALIZED {
		t.Fatalf("replayed = %v", again)
	}

	// A provider going down is announced once, not per item.
	e.providers["trip"].Stop()
	fc := w.next(t, "trip going stale", func(m *billingv1.WatchBillsResponse) bool {
		return m.GetChangeType() == billingv1.BillChangeType_BILL_CHANGE_TYPE_PROVIDER_FRESHNESS_CHANGED &&
			m.GetProviderFreshness().GetFreshness() == billingv1.FreshnessState_FRESHNESS_STATE_STALE
	})
	if pf := fc.GetProviderFreshness(); pf.GetProvider() != "trip" || fc.GetBill() != nil || fc.GetCursor() == "" {
		t.Fatalf("freshness change = %v", fc)
	}
	// Heartbeats flow while nothing changes, with the cursor to resume from.
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-w.msgs:
			if m.GetHeartbeat() {
				if m.GetCursor() == "" || m.GetBill() != nil {
					t.Fatalf("heartbeat = %v", m)
				}
				return
			}
		case err := <-w.errc:
			t.Fatal(err)
		case <-timeout:
			t.Fatal("no heartbeat")
		}
	}
}

// TestWatchBillsStartsNow: without a snapshot or a cursor, the stream starts with changes
// made from now on; it does not replay the bills' history.
func TestWatchBillsStartsNow(t *testing.T) {
	t.Parallel()
	e := start(t)
	before := e.openBill(t)
	w := watchBills(t, e.operator, &billingv1.WatchBillsRequest{})
	// The stream takes its starting point when the server handles the call, which the
	// client does not see: open bills until one shows up. Whatever shows first must be new.
	made := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		made[e.openBill(t).GetId()] = true
		select {
		case m := <-w.msgs:
			if m.GetBill() == nil {
				continue
			}
			if id := m.GetBill().GetId(); !made[id] {
				t.Fatalf("first change is of bill %s (created before the watch: %s), want one made after it", id, before.GetId())
			}
			return
		case err := <-w.errc:
			t.Fatal(err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("no change reached the stream")
}

func TestWatchBillsRejects(t *testing.T) {
	t.Parallel()
	e := start(t)
	recvErr := func(c billingv1.BillingServiceClient, req *billingv1.WatchBillsRequest) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := c.WatchBills(ctx, req)
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	grpctest.WantCode(t, recvErr(e.customer2, &billingv1.WatchBillsRequest{CustomerId: "cust-1"}), codes.PermissionDenied)
	grpctest.WantCode(t, recvErr(e.anon, &billingv1.WatchBillsRequest{}), codes.Unauthenticated)
	grpctest.WantField(t, recvErr(e.operator, &billingv1.WatchBillsRequest{IncludeSnapshot: true, AfterCursor: "x"}), "after_cursor")
	grpctest.WantField(t, recvErr(e.operator, &billingv1.WatchBillsRequest{AfterCursor: "not-a-cursor"}), "after_cursor")
	grpctest.WantField(t, recvErr(e.operator, &billingv1.WatchBillsRequest{BillIds: []string{"b"}}), "bill_ids")
	// A customer only ever hears of their own bills.
	w := watchBills(t, e.customer2, &billingv1.WatchBillsRequest{IncludeSnapshot: true})
	w.next(t, "the empty snapshot", ofType(billingv1.BillChangeType_BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE))
	e.openBill(t) // cust-1's
	if _, err := e.customer2.CreateBill(grpctest.Context(t), &billingv1.CreateBillRequest{CustomerId: "cust-2", CurrencyCode: "EUR"}); err != nil {
		t.Fatal(err)
	}
	m := w.next(t, "cust-2's bill", func(m *billingv1.WatchBillsResponse) bool { return m.GetBill() != nil })
	if m.GetBill().GetCustomerId() != "cust-2" {
		t.Fatalf("cust-2 was told about %v", m.GetBill())
	}
}
