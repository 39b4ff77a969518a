package analyticsapp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
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
		sourceEvent(t, "fare.fare.calculated", "t1", d1, &farev1.FareEvent{Fare: &farev1.Fare{TripId: "t1", City: "berlin", SurgeMultiplierBps: 15000, Total: &typev1.Money{AmountMinor: 1850, CurrencyCode: "EUR"}}}),
		sourceEvent(t, "fare.fare.calculated", "t2", d1, &farev1.FareEvent{Fare: &farev1.Fare{TripId: "t2", City: "paris", Total: &typev1.Money{AmountMinor: 2200, CurrencyCode: "EUR"}}}),
	}
	// Three rides requested in Berlin: one assigned after 90 s and completed, one
	// assigned after 30 s and cancelled, one never assigned.
	trip := func(id string, created, assigned time.Time) *tripv1.TripEvent {
		tr := &tripv1.Trip{Id: id, City: "berlin", CreateTime: timestamppb.New(created)}
		if !assigned.IsZero() {
			tr.AssignTime = timestamppb.New(assigned)
		}
		return &tripv1.TripEvent{Trip: tr}
	}
	for i, wait := range []time.Duration{90 * time.Second, 30 * time.Second, 0} {
		id := fmt.Sprintf("trip-%d", i)
		events = append(events, sourceEvent(t, "trip.trip.requested", id, d1, trip(id, d1, time.Time{})))
		if wait > 0 {
			events = append(events, sourceEvent(t, "trip.trip.driver_assigned", id, d1.Add(wait), trip(id, d1, d1.Add(wait))))
		}
	}
	events = append(events,
		sourceEvent(t, "trip.trip.ended", "trip-0", d1.Add(time.Hour), trip("trip-0", d1, d1.Add(90*time.Second))),
		sourceEvent(t, "trip.trip.cancelled", "trip-1", d1.Add(time.Hour), trip("trip-1", d1, d1.Add(30*time.Second))))
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
	for _, r := range byCity {
		if r.Group != "berlin" {
			continue
		}
		got := fmt.Sprintf("requested=%d completed=%d cancelled=%d completion=%.4f assignments=%d wait=%v surged=%d share=%.2f",
			r.TripsRequested, r.TripsCompleted, r.TripsCancelled, r.CompletionRate, r.Assignments, *r.AverageAssignment, r.SurgedFares, r.SurgeShare)
		want := "requested=3 completed=1 cancelled=1 completion=0.3333 assignments=2 wait=1m0s surged=1 share=1.00"
		if got != want {
			t.Errorf("berlin rides: %s, want %s", got, want)
		}
	}
}
