package paymentgrpc_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/payment/payment"
)

func usd(n int64) *typev1.Money { return &typev1.Money{AmountMinor: n, CurrencyCode: "USD"} }

func protoDate(t time.Time) *typev1.Date {
	y, m, d := t.Date()
	return &typev1.Date{Year: int32(y), Month: int32(m), Day: int32(d)}
}

// sumEvents totals the captured and refunded events whose operation completed before end, per
// currency: what a settlement up to end must add up to.
func sumEvents(evs []event, end time.Time) map[string][2]int64 {
	sums := map[string][2]int64{}
	for _, ev := range evs {
		if ev.Payment == nil || ev.Payment.GetOperation() == nil || !ev.Payment.GetOperation().GetCompleteTime().AsTime().Before(end) {
			continue
		}
		amount := ev.Payment.GetOperation().GetAmount()
		s := sums[amount.GetCurrencyCode()]
		switch ev.Type {
		case payment.EventCaptured:
			s[0] += amount.GetAmountMinor()
		case payment.EventRefunded:
			s[1] += amount.GetAmountMinor()
		default:
			continue
		}
		sums[amount.GetCurrencyCode()] = s
	}
	return sums
}

func totalsOf(st *paymentv1.Settlement) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, tot := range st.GetTotals() {
		out[tot.GetCurrencyCode()] = [2]int64{tot.GetCaptured().GetAmountMinor(), tot.GetRefunded().GetAmountMinor()}
		if tot.GetNet().GetAmountMinor() != tot.GetCaptured().GetAmountMinor()-tot.GetRefunded().GetAmountMinor() {
			panic("net is not captured minus refunded")
		}
	}
	return out
}

func equalSums(a, b map[string][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The daily settlement totals every capture and refund of the day per currency, equal to the
// sum of the day's captured and refunded events; it is idempotent and settles nothing twice.
func TestSettlementTotalsMatchEvents(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -5)
	e.clock.Set(day.Add(10 * time.Hour))

	m := e.method("tok_sim_visa").GetId()
	p1 := e.authorize(m, eur(1000))
	e.capture(p1.GetId(), nil)
	if _, err := e.svc().RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: p1.GetId(), Amount: eur(250), RequestId: "r1"}); err != nil {
		t.Fatal(err)
	}
	p2 := e.authorize(m, eur(500))
	e.capture(p2.GetId(), eur(200))
	p3 := e.authorize(m, usd(3000))
	e.capture(p3.GetId(), nil)
	p4 := e.authorize(e.method("tok_sim_capture_timeout").GetId(), usd(40))
	if r := e.capture(p4.GetId(), nil); r.GetPayment().GetStatus() != stPending {
		t.Fatalf("p4 %v", r)
	}
	e.authorize(m, eur(77)) // authorized only: nothing to settle

	// The next day: a late capture and a late reconciliation belong to the next settlement.
	e.clock.Set(day.Add(34 * time.Hour))
	e.capture(p2.GetId(), eur(100))
	if r, err := e.svc().ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{PaymentId: p4.GetId()}); err != nil || !r.GetResolved() {
		t.Fatalf("reconcile p4: %v %v", r, err)
	}

	_, err := e.svc().RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(day.AddDate(0, 0, 1)), RequestId: "today"})
	grpctest.WantField(t, err, "settlement_date")
	run, err := e.svc().RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(day), RequestId: "settle-day"})
	if err != nil {
		t.Fatal(err)
	}
	st := run.GetSettlement()
	want := map[string][2]int64{"EUR": {1200, 250}, "USD": {3000, 0}}
	if st.GetStatus() != paymentv1.SettlementStatus_SETTLEMENT_STATUS_COMPLETED || st.GetPaymentCount() != 3 ||
		st.GetProcessorReference() == "" || !equalSums(totalsOf(st), want) {
		t.Fatalf("settlement %v", st)
	}
	if got := sumEvents(e.events(), day.AddDate(0, 0, 1)); !equalSums(got, totalsOf(st)) {
		t.Fatalf("events sum to %v, the settlement to %v", got, totalsOf(st))
	}
	if st.GetTotals()[0].GetCurrencyCode() != "EUR" || st.GetTotals()[0].GetCaptureCount() != 2 || st.GetTotals()[0].GetRefundCount() != 1 {
		t.Fatalf("totals %v", st.GetTotals())
	}

	// Idempotent: the same request returns the same settlement; another request id for the date
	// is refused; the same request id for another date is a reused key.
	again, err := e.svc().RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(day), RequestId: "settle-day"})
	if err != nil || !proto.Equal(again.GetSettlement(), st) {
		t.Fatalf("rerun: %v %v", again, err)
	}
	_, err = e.svc().RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(day), RequestId: "other"})
	grpctest.WantReason(t, err, codes.AlreadyExists, "SETTLEMENT_EXISTS")
	_, err = e.svc().RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(day.AddDate(0, 0, -1)), RequestId: "settle-day"})
	grpctest.WantField(t, err, "request_id")
	if n := len(e.eventsOf(payment.EventSettlementCompleted)); n != 1 {
		t.Fatalf("%d settlement events", n)
	}
	settled := e.eventsOf(payment.EventSettled)
	if len(settled) != 3 || settled[0].Payment.GetSettlementId() != st.GetId() {
		t.Fatalf("settled events %v", settled)
	}
	if completed := e.eventsOf(payment.EventSettlementCompleted)[0]; !proto.Equal(completed.Settle.GetSettlement(), st) {
		t.Fatalf("settlement event %v", completed.Settle)
	}
	g1, _ := e.svc().GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p1.GetId(), View: typev1.View_VIEW_STANDARD})
	g2, _ := e.svc().GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p2.GetId()})
	if g1.GetPayment().GetSettleTime() == nil || g2.GetPayment().GetSettleTime() != nil || g1.GetPayment().GetTimeline()[1].GetSettlementId() != st.GetId() {
		t.Fatalf("settle times: %v / %v", g1.GetPayment(), g2.GetPayment())
	}

	// The next day's settlement holds the late operations, and only them.
	e.clock.Set(day.Add(58 * time.Hour))
	next, err := e.svc().RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(day.AddDate(0, 0, 1)), RequestId: "settle-next"})
	if err != nil || !equalSums(totalsOf(next.GetSettlement()), map[string][2]int64{"EUR": {100, 0}, "USD": {40, 0}}) {
		t.Fatalf("next: %v %v", next, err)
	}
	all := sumEvents(e.events(), day.AddDate(0, 0, 2))
	if all["EUR"] != [2]int64{1300, 250} || all["USD"] != [2]int64{3040, 0} {
		t.Fatalf("all events %v", all)
	}

	list, err := e.as(operator).ListSettlements(ctx, &paymentv1.ListSettlementsRequest{PageSize: 1})
	if err != nil || len(list.GetSettlements()) != 1 || list.GetSettlements()[0].GetId() != next.GetSettlement().GetId() || list.GetNextPageToken() == "" {
		t.Fatalf("list: %v %v", list, err)
	}
	page2, err := e.as(operator).ListSettlements(ctx, &paymentv1.ListSettlementsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(page2.GetSettlements()) != 1 || page2.GetSettlements()[0].GetId() != st.GetId() || page2.GetNextPageToken() != "" {
		t.Fatalf("page 2: %v %v", page2, err)
	}
	got, err := e.as(operator).GetSettlement(ctx, &paymentv1.GetSettlementRequest{SettlementId: st.GetId()})
	if err != nil || !proto.Equal(got.GetSettlement(), st) {
		t.Fatalf("get: %v %v", got, err)
	}
	ranged, err := e.as(operator).ListSettlements(ctx, &paymentv1.ListSettlementsRequest{StartDate: protoDate(day), EndDate: protoDate(day)})
	if err != nil || len(ranged.GetSettlements()) != 1 {
		t.Fatalf("ranged: %v %v", ranged, err)
	}
}
