package billinggrpc_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/internal/providertest"
	"github.com/waybill/waybill/services/fare/fareapp"
)

// fareEnv is a real fare service on loopback (its own database, no trip or matching to
// consume), the source of the fare.fare.calculated events billing consumes.
type fareEnv struct {
	addr             string
	operator, server farev1.FareServiceClient
}

func startFare(t *testing.T) *fareEnv {
	t.Helper()
	c := fareapp.DefaultConfig()
	c.TripAddr, c.MatchingAddr = "", ""
	s := grpctest.Start(t, fareapp.SpecWith(c))
	f := &fareEnv{addr: s.Addr,
		operator: farev1.NewFareServiceClient(s.Conn(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator})),
		server:   farev1.NewFareServiceClient(s.Conn(auth.Identity{Subject: "trip", Role: auth.RoleService}))}
	f.card(t)
	return f
}

// card creates the ride rate card: 3 EUR + 1.50 EUR/km + 0.30 EUR/min, at least 8 EUR.
func (f *fareEnv) card(t *testing.T) {
	t.Helper()
	eur := func(a int64) *typev1.Money { return &typev1.Money{AmountMinor: a, CurrencyCode: "EUR"} }
	if _, err := f.operator.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: &farev1.RateCard{
		ProductKey:   &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: "berlin", Product: "standard"}}},
		CurrencyCode: "EUR",
		Pricing:      &farev1.RateCard_Ride{Ride: &farev1.RidePricing{BaseFare: eur(300), PerKilometer: eur(150), PerMinute: eur(30), MinimumFare: eur(800)}},
	}}); err != nil {
		t.Fatal(err)
	}
}

// ride makes fare calculate a ride's fare (12.345 km, 17.5 min: 300 + 1852 + 525 = 2677
// EUR cents) for customer, as trip's record would, and returns the fare.
func (f *fareEnv) ride(t *testing.T, trip, customer string) *farev1.Fare {
	t.Helper()
	resp, err := f.server.CalculateRideFare(grpctest.Context(t), &farev1.CalculateRideFareRequest{
		TripId: trip, CustomerId: customer, City: "berlin", Product: "standard",
		DistanceMeters: 12345, DurationSeconds: 1050, RequestTime: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetFare()
}

// standing returns a customer's standing as the trip service sees it.
func (e *env) standing(t *testing.T, customer string) *billingv1.AccountStanding {
	t.Helper()
	resp, err := e.service.GetAccountStanding(grpctest.Context(t), &billingv1.GetAccountStandingRequest{CustomerId: customer})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetStanding()
}

// rideBills returns the customer's bills holding trip as an item.
func (e *env) rideBills(t *testing.T, customer, trip string) []*billingv1.Bill {
	t.Helper()
	resp, err := e.operator.ListBills(grpctest.Context(t), &billingv1.ListBillsRequest{CustomerId: customer, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []*billingv1.Bill
	for _, b := range resp.GetBills() {
		for _, it := range b.GetItems() {
			if it.GetReservationId() == trip {
				out = append(out, b)
			}
		}
	}
	return out
}

// TestRideFareOnTheBill follows a ride's fare from fare's event to the rider's account:
// fare.fare.calculated puts the ride on a bill of its own, finalized with the fare as
// the billed amount; the balance owes it and the standing is BLOCKED (what trip's
// request gate refuses) until the rider pays it through the pay saga, which makes the
// standing GOOD again. A restart of billing does not bill the ride twice.
func TestRideFareOnTheBill(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	fares := startFare(t)
	tune := func(c *billingapp.Config) {
		c.PaymentAddr = w.pay.addr
		c.FareAddr = fares.addr
		c.RideCollectInterval = time.Hour // this test pays by hand; TestRideFareCollected collects
		c.Saga = billing.RunnerOptions{Lease: 2 * time.Second, Poll: 100 * time.Millisecond, RetryMin: 20 * time.Millisecond,
			RetryMax: 300 * time.Millisecond, CallTimeout: 1500 * time.Millisecond}
	}
	e := startBilling(t, w.pool, w.ps, w.flag, tune)
	if st := e.standing(t, "cust-1"); st.GetStanding() != billingv1.Standing_STANDING_GOOD {
		t.Fatalf("standing before any ride: %v", st)
	}

	trip := ids.New()
	f := fares.ride(t, trip, "cust-1")
	var bill *billingv1.Bill
	grpctest.Eventually(t, 15*time.Second, "the ride on a bill", func() bool {
		bs := e.rideBills(t, "cust-1", trip)
		if len(bs) == 1 {
			bill = bs[0]
		}
		return bill != nil
	})
	it := bill.GetItems()[0]
	if bill.GetStatus() != billingv1.BillStatus_BILL_STATUS_FINALIZED || len(bill.GetItems()) != 1 || bill.GetCurrencyCode() != "EUR" ||
		it.GetKind() != reservationv1.Kind_KIND_RIDE || it.GetProvider() != "trip" ||
		it.GetBilledAmount().GetAmountMinor() != f.GetTotal().GetAmountMinor() || it.GetAmount().GetAmountMinor() != 2677 ||
		it.GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_COMPLETED || it.GetTitle() == "" ||
		len(bill.GetTotals()) != 1 || bill.GetTotals()[0].GetAmountMinor() != 2677 {
		t.Fatalf("ride bill %v, want it FINALIZED with the ride billed 2677 EUR", bill)
	}
	st := e.standing(t, "cust-1")
	if st.GetStanding() != billingv1.Standing_STANDING_BLOCKED || st.GetReasonCode() != billing.ReasonRideFareUnpaid ||
		len(st.GetOverdueBillIds()) != 1 || st.GetOverdueBillIds()[0] != bill.GetId() {
		t.Fatalf("standing with an unpaid fare: %v", st)
	}
	bal, err := e.customer.GetCustomerBalance(grpctest.Context(t), &billingv1.GetCustomerBalanceRequest{CustomerId: "cust-1"})
	if err != nil || len(bal.GetBalance().GetOutstanding()) != 1 || bal.GetBalance().GetOutstanding()[0].GetAmountMinor() != 2677 || bal.GetBalance().GetUnpaidBillCount() != 1 {
		t.Fatalf("balance with an unpaid fare: %v, %v", bal, err)
	}
	if st := e.standing(t, "cust-2"); st.GetStanding() != billingv1.Standing_STANDING_GOOD {
		t.Fatalf("another rider's standing: %v", st)
	}

	// Billing restarts on its database: the fare is not billed again.
	e.stop()
	e = startBilling(t, w.pool, w.ps, w.flag, tune)
	other := ids.New()
	fares.ride(t, other, "cust-2") // a later event: once it is billed, the first was not re-applied
	grpctest.Eventually(t, 15*time.Second, "the second ride on a bill", func() bool { return len(e.rideBills(t, "cust-2", other)) == 1 })
	if n := len(e.rideBills(t, "cust-1", trip)); n != 1 {
		t.Fatalf("the ride is on %d bills after a restart, want 1", n)
	}

	// The rider pays: the saga captures the fare and the standing is GOOD again.
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	e.pay(t, bill.GetId(), pm, "pay-ride-1")
	paid := e.sagaEnded(t, bill.GetId())
	if paid.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("ride bill after paying: %v", paid)
	}
	if pays := w.pay.payments(t, bill.GetId()); len(pays) != 1 || pays[0].GetCapturedAmount().GetAmountMinor() != 2677 {
		t.Fatalf("payments for the ride bill: %v", pays)
	}
	if st := e.standing(t, "cust-1"); st.GetStanding() != billingv1.Standing_STANDING_GOOD {
		t.Fatalf("standing after paying: %v", st)
	}
}

// TestRideAlreadyOnABill: a ride the rider put on an open bill stays there when its fare
// arrives (no second bill), and the open bill's completed ride still blocks the rider
// until that bill is paid.
func TestRideAlreadyOnABill(t *testing.T) {
	t.Parallel()
	fares := startFare(t)
	e := startWith(t, threeProviders, func(c *billingapp.Config) { c.FareAddr = fares.addr })
	trip := ids.New()
	e.reserve(t, "trip", providertest.Reservation{ID: trip, CustomerID: "cust-1", Kind: reservationv1.Kind_KIND_RIDE,
		Amount: 2500, Status: reservationv1.MainStatus_MAIN_STATUS_COMPLETED})
	b := e.openBill(t)
	e.add(t, b.GetId(), reservationv1.Kind_KIND_RIDE, trip)
	if st := e.standing(t, "cust-1"); st.GetStanding() != billingv1.Standing_STANDING_BLOCKED || st.GetReasonCode() != billing.ReasonRideFareUnpaid {
		t.Fatalf("standing with a completed ride on an open bill: %v", st)
	}
	fares.ride(t, trip, "cust-1")
	marker := ids.New()
	fares.ride(t, marker, "cust-2")
	grpctest.Eventually(t, 15*time.Second, "the later fare to be billed", func() bool { return len(e.rideBills(t, "cust-2", marker)) == 1 })
	if bs := e.rideBills(t, "cust-1", trip); len(bs) != 1 || bs[0].GetId() != b.GetId() {
		t.Fatalf("the ride is on %v, want only the rider's open bill", bs)
	}
	// Customers cannot read another customer's standing.
	_, err := e.customer.GetAccountStanding(grpctest.Context(t), &billingv1.GetAccountStandingRequest{CustomerId: "cust-2"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.customer.GetAccountStanding(grpctest.Context(t), &billingv1.GetAccountStandingRequest{})
	grpctest.WantField(t, err, "customer_id")
}

// TestRideFareCollected: billing collects a ride's bill through the pay saga with the
// rider's default payment method (their newest active one): the rider is BLOCKED only
// until the capture, then GOOD. A declined payment leaves the bill FAILED and the rider
// BLOCKED; paying it by hand with another method restores the standing.
func TestRideFareCollected(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	fares := startFare(t)
	e := startBilling(t, w.pool, w.ps, w.flag, func(c *billingapp.Config) {
		c.PaymentAddr = w.pay.addr
		c.FareAddr = fares.addr
		c.RideCollectInterval = 50 * time.Millisecond
		c.Saga = billing.RunnerOptions{Lease: 2 * time.Second, Poll: 100 * time.Millisecond, RetryMin: 20 * time.Millisecond,
			RetryMax: 300 * time.Millisecond, CallTimeout: 1500 * time.Millisecond}
	})
	w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_insufficient_funds") // older: not the default
	w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	w.pay.method(t, w.pay.cust2, "cust-2", "tok_sim_insufficient_funds")

	paid, declined := ids.New(), ids.New()
	fares.ride(t, paid, "cust-1")
	fares.ride(t, declined, "cust-2")
	var bills [2]*billingv1.Bill
	for i, x := range []struct{ customer, trip string }{{"cust-1", paid}, {"cust-2", declined}} {
		grpctest.Eventually(t, 15*time.Second, "the ride's bill to be collected", func() bool {
			bs := e.rideBills(t, x.customer, x.trip)
			if len(bs) != 1 {
				return false
			}
			bills[i] = bs[0]
			st := bs[0].GetPaymentSaga().GetState()
			return st == billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_SUCCEEDED || st == billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_FAILED
		})
	}
	if bills[0].GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("cust-1's ride bill %v, want PAID with the default (visa) method", bills[0])
	}
	if pays := w.pay.payments(t, bills[0].GetId()); len(pays) != 1 || pays[0].GetCapturedAmount().GetAmountMinor() != 2677 {
		t.Fatalf("payments of the collected bill: %v", pays)
	}
	if st := e.standing(t, "cust-1"); st.GetStanding() != billingv1.Standing_STANDING_GOOD {
		t.Fatalf("cust-1's standing after the collection: %v", st)
	}
	if bills[1].GetStatus() != billingv1.BillStatus_BILL_STATUS_FAILED {
		t.Fatalf("cust-2's ride bill %v, want FAILED (declined)", bills[1])
	}
	if st := e.standing(t, "cust-2"); st.GetStanding() != billingv1.Standing_STANDING_BLOCKED || st.GetReasonCode() != billing.ReasonRideFareUnpaid {
		t.Fatalf("cust-2's standing after a declined collection: %v", st)
	}
	// Not retried automatically: one payment attempt only.
	time.Sleep(300 * time.Millisecond)
	if pays := w.pay.payments(t, bills[1].GetId()); len(pays) != 1 {
		t.Fatalf("%d payments for the declined bill, want 1", len(pays))
	}
	good := w.pay.method(t, w.pay.cust2, "cust-2", "tok_sim_mastercard")
	resp, err := e.customer2.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: bills[1].GetId(), PaymentMethodId: good, RequestId: "retry-1"})
	if err != nil {
		t.Fatal(err)
	}
	if b := e.sagaEnded(t, resp.GetBill().GetId()); b.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("cust-2's bill after paying by hand: %v", b)
	}
	if st := e.standing(t, "cust-2"); st.GetStanding() != billingv1.Standing_STANDING_GOOD {
		t.Fatalf("cust-2's standing after paying: %v", st)
	}
}

// TestLateCancellationFeeBilled: trip's cancelled trip whose sub-status says a fee is
// due (from a real event source) → fare's fee → a bill for the rider with the fee,
// BLOCKED until paid; a free cancellation bills nothing.
func TestLateCancellationFeeBilled(t *testing.T) {
	t.Parallel()
	trip := grpctest.StartEventSource(t, "trip", []string{"trip.trip.ended", "trip.trip.cancelled"})
	emit := trip.Emit
	c := fareapp.DefaultConfig()
	c.TripAddr, c.MatchingAddr = trip.Addr, ""
	fs := grpctest.Start(t, fareapp.SpecWith(c))
	fares := &fareEnv{addr: fs.Addr, operator: farev1.NewFareServiceClient(fs.Conn(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}))}
	fares.card(t)
	e := startWith(t, threeProviders, func(c *billingapp.Config) { c.FareAddr = fares.addr })

	requested := time.Now().Add(-10 * time.Minute)
	cancel := func(id, customer, subStatus string) {
		ev := &tripv1.TripEvent{PreviousStatus: tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED, Trip: &tripv1.Trip{
			Id: id, CustomerId: customer, City: "berlin", Product: "standard", Status: tripv1.TripStatus_TRIP_STATUS_CANCELLED,
			SubStatus: subStatus, CreateTime: timestamppb.New(requested), AssignTime: timestamppb.New(requested.Add(time.Minute)),
			Cancellation: &tripv1.TripCancellation{Actor: tripv1.CancellationActor_CANCELLATION_ACTOR_RIDER, Reason: "changed_mind",
				CancelTime: timestamppb.New(requested.Add(5 * time.Minute))}}}
		if err := emit.Run(t.Context(), func(tx *txn.Tx) error {
			tx.Emit(outbox.Event{Type: "trip.trip.cancelled", Key: id, Payload: ev})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	free, due := ids.New(), ids.New()
	cancel(free, "cust-1", "")
	cancel(due, "cust-2", "cancellation_fee_due")
	var bill *billingv1.Bill
	grpctest.Eventually(t, 15*time.Second, "the fee on a bill", func() bool {
		if bs := e.rideBills(t, "cust-2", due); len(bs) == 1 {
			bill = bs[0]
		}
		return bill != nil
	})
	it := bill.GetItems()[0]
	if it.GetBilledAmount().GetAmountMinor() != 800 || !strings.HasPrefix(it.GetTitle(), "Cancellation fee") || bill.GetStatus() != billingv1.BillStatus_BILL_STATUS_FINALIZED {
		t.Fatalf("fee bill %v, want the 8 EUR fee FINALIZED", bill)
	}
	if st := e.standing(t, "cust-2"); st.GetStanding() != billingv1.Standing_STANDING_BLOCKED || st.GetReasonCode() != billing.ReasonRideFareUnpaid {
		t.Fatalf("standing with an unpaid fee: %v", st)
	}
	if bs := e.rideBills(t, "cust-1", free); len(bs) != 0 {
		t.Fatalf("a free cancellation was billed: %v", bs)
	}
	if st := e.standing(t, "cust-1"); st.GetStanding() != billingv1.Standing_STANDING_GOOD {
		t.Fatalf("standing after a free cancellation: %v", st)
	}
}
