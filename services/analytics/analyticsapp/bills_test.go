package analyticsapp_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analytics"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/analytics/analyticsgrpc"
	"github.com/waybill/waybill/services/analytics/analyticspg"
)

func sourceEvent(t *testing.T, typ, key string, at time.Time, p proto.Message) *eventsv1.Event {
	t.Helper()
	a, err := anypb.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{Id: typ + key + at.String(), Type: typ, Key: key, OccurredTime: timestamppb.New(at), Payload: a}
}

// TestReceivablesAndRides: billing's events move a bill's totals into the receivables
// when it is finalized (once, even when a failed pay saga finalizes it again) and out
// when it is paid or cancelled, so the balance at the end of each period is what was
// owed then; fare's events count rides and their revenue per city. The events are
// billing's and fare's payloads, applied with the consumers' handler on a real database.
func TestReceivablesAndRides(t *testing.T) {
	pool := pgtest.NewDB(t, analyticsapp.Name, analyticspg.Migrations)
	store := analyticspg.New(pool, analyticspg.Options{AlertEvent: analyticsgrpc.AlertEvent})
	apply := analyticsapp.Handler(store)
	runner := txn.New(pool, txn.Options{})
	d1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	bill := func(id string, st billingv1.BillStatus, totals ...int64) *billingv1.BillEvent {
		b := &billingv1.Bill{Id: id, Status: st}
		for _, x := range totals {
			b.Totals = append(b.Totals, &typev1.Money{AmountMinor: x, CurrencyCode: "EUR"})
		}
		return &billingv1.BillEvent{Bill: b}
	}
	events := []*eventsv1.Event{
		sourceEvent(t, "billing.bill.finalized", "b1", d1, bill("b1", billingv1.BillStatus_BILL_STATUS_FINALIZED, 10000)),
		sourceEvent(t, "billing.bill.finalized", "b2", d1, bill("b2", billingv1.BillStatus_BILL_STATUS_FINALIZED, 5000)),
		sourceEvent(t, "billing.bill.failed", "b1", d1.AddDate(0, 0, 1), bill("b1", billingv1.BillStatus_BILL_STATUS_FAILED, 10000)),
		sourceEvent(t, "billing.bill.finalized", "b1", d1.AddDate(0, 0, 1), bill("b1", billingv1.BillStatus_BILL_STATUS_FINALIZED, 10000)),
		sourceEvent(t, "billing.bill.paid", "b1", d1.AddDate(0, 0, 2), bill("b1", billingv1.BillStatus_BILL_STATUS_PAID, 10000)),
		sourceEvent(t, "billing.bill.settled", "b1", d1.AddDate(0, 0, 3), bill("b1", billingv1.BillStatus_BILL_STATUS_SETTLED, 10000)),
		sourceEvent(t, "billing.bill.cancelled", "b2", d1.AddDate(0, 0, 3), bill("b2", billingv1.BillStatus_BILL_STATUS_CANCELLED, 5000)),
		sourceEvent(t, "fare.fare.calculated", "t1", d1, &farev1.FareEvent{Fare: &farev1.Fare{TripId: "t1", City: "berlin", Total: &typev1.Money{AmountMinor: 1850, CurrencyCode: "EUR"}}}),
		sourceEvent(t, "fare.fare.calculated", "t2", d1, &farev1.FareEvent{Fare: &farev1.Fare{TripId: "t2", City: "paris", Total: &typev1.Money{AmountMinor: 2200, CurrencyCode: "EUR"}}}),
	}
	for _, ev := range events {
		if err := runner.Run(context.Background(), func(tx *txn.Tx) error { return apply(context.Background(), tx, ev) }); err != nil {
			t.Fatalf("apply %s: %v", ev.GetType(), err)
		}
	}
	svc := analytics.New(store, analytics.Options{})
	ops := caller.Caller{Subject: "ops", Role: caller.Operator}
	rows, err := svc.KPIs(context.Background(), ops, analytics.Query{Start: analytics.Day(d1), End: analytics.Day(d1).AddDate(0, 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	owed := map[string]int64{}
	for _, r := range rows {
		for _, c := range r.Currencies {
			owed[r.PeriodStart.Format(time.DateOnly)] = c.Outstanding
		}
	}
	// Day 1: both owed; day 2: b1 failed and finalized again (still owed once); day 3: b1
	// paid; day 4: b2 cancelled.
	want := map[string]int64{"2026-12-01": 15000, "2026-12-02": 15000, "2026-12-03": 5000}
	for day, w := range want {
		if owed[day] != w {
			t.Errorf("owed at the end of %s = %d, want %d (all: %v)", day, owed[day], w, owed)
		}
	}
	if _, ok := owed["2026-12-04"]; ok && owed["2026-12-04"] != 0 {
		t.Errorf("owed at the end of 2026-12-04 = %d, want 0", owed["2026-12-04"])
	}
	byCity, err := svc.KPIs(context.Background(), ops, analytics.Query{Start: analytics.Day(d1), End: analytics.Day(d1), GroupBy: analytics.ByCity})
	if err != nil {
		t.Fatal(err)
	}
	rides := map[string]int64{}
	for _, r := range byCity {
		rides[r.Group] = r.Fares
		if len(r.Currencies) != 1 || (r.Group == "berlin" && r.Currencies[0].RideRevenue != 1850) {
			t.Errorf("%s: %+v", r.Group, r.Currencies)
		}
	}
	if rides["berlin"] != 1 || rides["paris"] != 1 || len(rides) != 2 {
		t.Errorf("rides by city %v, want berlin 1, paris 1", rides)
	}
}
