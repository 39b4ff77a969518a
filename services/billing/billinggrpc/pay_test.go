package billinggrpc_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/internal/providertest"
	"github.com/waybill/waybill/services/payment/payment"
	"github.com/waybill/waybill/services/payment/paymentapp"
	"github.com/waybill/waybill/services/payment/paymentpg"
	"github.com/waybill/waybill/services/payment/simulator"
)

// payEnv is a real payment service on loopback, with the simulator as its processor and a
// clock that tests may move back (to settle a past day).
type payEnv struct {
	addr   string
	sim    *simulator.Simulator
	offset atomic.Int64
	ops    paymentv1.PaymentServiceClient // as an operator
	cust   paymentv1.PaymentServiceClient // as cust-1
	cust2  paymentv1.PaymentServiceClient // as cust-2
}

// startPayment starts the payment service on its own database.
func startPayment(t testing.TB) *payEnv {
	t.Helper()
	p := &payEnv{sim: simulator.New()}
	cfg := paymentapp.DefaultConfig()
	cfg.Adapter, cfg.BackgroundInterval = p.sim, 0
	cfg.Service.Now = func() time.Time { return time.Now().Add(time.Duration(p.offset.Load())) }
	s := grpctest.Start(t, serve.Spec{Name: "payment", Migrations: paymentpg.Migrations, EventTypes: payment.EventTypes,
		Register: func(ctx context.Context, d serve.Deps) error { return paymentapp.Register(ctx, d, cfg) }})
	p.addr = s.Addr
	client := func(id auth.Identity) paymentv1.PaymentServiceClient {
		return paymentv1.NewPaymentServiceClient(s.Conn(id))
	}
	p.ops = client(auth.Identity{Subject: "ops", Role: auth.RoleOperator})
	p.cust = client(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer})
	p.cust2 = client(auth.Identity{Subject: "cust-2", Role: auth.RoleCustomer})
	return p
}

// method adds a payment method with a simulator test token for the customer's client.
func (p *payEnv) method(t testing.TB, c paymentv1.PaymentServiceClient, customer, token string) string {
	t.Helper()
	resp, err := c.CreatePaymentMethod(grpctest.Context(t), &paymentv1.CreatePaymentMethodRequest{CustomerId: customer,
		Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: token}})
	if err != nil {
		t.Fatalf("CreatePaymentMethod(%s): %v", token, err)
	}
	return resp.GetPaymentMethod().GetId()
}

// payments lists the payments made for a bill (billing's reference "bill:<id>").
func (p *payEnv) payments(t testing.TB, billID string) []*paymentv1.Payment {
	t.Helper()
	resp, err := p.ops.ListPayments(grpctest.Context(t), &paymentv1.ListPaymentsRequest{Reference: "bill:" + billID, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetPayments()
}

// sagaWorld is billing with two test providers and a real payment service, all on their
// own databases, and billing restartable on its database.
type sagaWorld struct {
	t     *testing.T
	ps    map[string]*providertest.Provider
	pay   *payEnv
	pool  *pgxpool.Pool
	flag  string
	specs []providerSpec
}

var sagaProviders = []providerSpec{
	{"booking", []string{"flight", "train", "bus", "stay"}, providertest.PayloadBooking},
	{"trip", []string{"ride"}, providertest.PayloadTrip},
}

func newSagaWorld(t *testing.T) *sagaWorld {
	t.Helper()
	ps := startProviders(t, sagaProviders)
	return &sagaWorld{t: t, ps: ps, pay: startPayment(t), pool: newBillingDB(t),
		flag: providersFlag(sagaProviders, ps), specs: sagaProviders}
}

// billing starts a billing process on the world's database; hook, when set, is the saga
// runner's test hook.
func (w *sagaWorld) billing(hook func(ctx context.Context, sagaID, point string) error) *env {
	w.t.Helper()
	return startBilling(w.t, w.pool, w.ps, w.flag, func(c *billingapp.Config) {
		c.PaymentAddr = w.pay.addr
		c.Saga = billing.RunnerOptions{Lease: 2 * time.Second, Poll: 100 * time.Millisecond, RetryMin: 20 * time.Millisecond,
			RetryMax: 300 * time.Millisecond, CallTimeout: 1500 * time.Millisecond, Hook: hook}
	})
}

// finalizedBill opens a bill for cust-1 with two flights (booking) and one ride (trip),
// PENDING, and finalizes it. It returns the bill and its reservations by provider.
func (w *sagaWorld) finalizedBill(e *env) (*billingv1.Bill, map[string][]string) {
	t := w.t
	t.Helper()
	b := e.openBill(t)
	res := map[string][]string{}
	for _, x := range []struct {
		provider string
		kind     reservationv1.Kind
		amount   int64
	}{{"booking", reservationv1.Kind_KIND_FLIGHT, 12000}, {"booking", reservationv1.Kind_KIND_FLIGHT, 8000}, {"trip", reservationv1.Kind_KIND_RIDE, 2500}} {
		id := e.reserve(t, x.provider, providertest.Reservation{CustomerID: "cust-1", Kind: x.kind, Amount: x.amount})
		e.add(t, b.GetId(), x.kind, id)
		res[x.provider] = append(res[x.provider], id)
	}
	resp, err := e.customer.FinalizeBill(grpctest.Context(t), &billingv1.FinalizeBillRequest{BillId: b.GetId()})
	if err != nil {
		t.Fatalf("FinalizeBill: %v", err)
	}
	return resp.GetBill(), res
}

// pay starts the saga as cust-1.
func (e *env) pay(t testing.TB, billID, methodID, requestID string) *billingv1.Bill {
	t.Helper()
	resp, err := e.customer.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: billID, PaymentMethodId: methodID, RequestId: requestID})
	if err != nil {
		t.Fatalf("PayBill: %v", err)
	}
	return resp.GetBill()
}

// settled waits until the bill's saga has ended and returns the bill.
func (e *env) sagaEnded(t testing.TB, billID string) *billingv1.Bill {
	t.Helper()
	var b *billingv1.Bill
	grpctest.Eventually(t, 10*time.Second, "the pay saga to end", func() bool {
		resp, err := e.operator.GetBill(grpctest.Context(t), &billingv1.GetBillRequest{BillId: billID})
		if err != nil {
			t.Fatal(err)
		}
		b = resp.GetBill()
		st := b.GetPaymentSaga().GetState()
		return st == billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_SUCCEEDED || st == billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_FAILED
	})
	return b
}

// consistent checks the end state of a paid or failed bill across the three services:
// either it is PAID, every reservation is CONFIRMED and exactly the total was captured
// once, or it is FAILED, no reservation stays CONFIRMED (those cancelled by the saga had
// their fees waived) and no money is held or kept. It returns whether the bill was paid.
func (w *sagaWorld) consistent(b *billingv1.Bill, res map[string][]string) bool {
	t := w.t
	t.Helper()
	pays := w.pay.payments(t, b.GetId())
	if len(pays) > 1 {
		t.Fatalf("%d payments for one saga, want at most 1", len(pays))
	}
	var stats simulator.Stats
	if len(pays) == 1 && pays[0].GetProcessorReference() != "" {
		stats, _ = w.pay.sim.Authorization(pays[0].GetProcessorReference())
	}
	total := b.GetTotals()[0].GetAmountMinor()
	switch b.GetStatus() {
	case billingv1.BillStatus_BILL_STATUS_PAID:
		if b.GetPaymentSaga().GetState() != billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_SUCCEEDED {
			t.Fatalf("PAID bill with saga %v", b.GetPaymentSaga())
		}
		if len(pays) != 1 || pays[0].GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED ||
			pays[0].GetCapturedAmount().GetAmountMinor() != total || b.GetPaymentId() != pays[0].GetId() {
			t.Fatalf("PAID bill (total %d, payment %q) with payments %v", total, b.GetPaymentId(), pays)
		}
		if stats.CaptureCount != 1 || stats.Captured != total || stats.Refunded != 0 {
			t.Fatalf("processor captured %d times (%d, refunded %d), want once %d", stats.CaptureCount, stats.Captured, stats.Refunded, total)
		}
		for p, ids := range res {
			for _, id := range ids {
				r, err := w.ps[p].Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != reservationv1.MainStatus_MAIN_STATUS_CONFIRMED {
					t.Fatalf("PAID bill's reservation %s is %v, want CONFIRMED", id, r.Status)
				}
			}
		}
		return true
	case billingv1.BillStatus_BILL_STATUS_FAILED:
		if b.GetPaymentSaga().GetState() != billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_FAILED {
			t.Fatalf("FAILED bill with saga %v", b.GetPaymentSaga())
		}
		for _, p := range pays {
			switch p.GetStatus() {
			case paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED, paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED, paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED:
			default:
				t.Fatalf("FAILED bill's payment is %v, want FAILED, VOIDED or REFUNDED", p.GetStatus())
			}
		}
		if stats.Captured != stats.Refunded {
			t.Fatalf("processor kept %d (captured %d, refunded %d)", stats.Captured-stats.Refunded, stats.Captured, stats.Refunded)
		}
		for p, ids := range res {
			for _, id := range ids {
				r, err := w.ps[p].Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				switch r.Status {
				case reservationv1.MainStatus_MAIN_STATUS_CONFIRMED:
					t.Fatalf("FAILED bill's reservation %s stays CONFIRMED", id)
				case reservationv1.MainStatus_MAIN_STATUS_CANCELLED:
					if !r.FeesWaived {
						t.Fatalf("reservation %s cancelled without waiving fees", id)
					}
				}
			}
		}
		return false
	}
	t.Fatalf("bill ended %v (version %d), want PAID or FAILED; saga %v", b.GetStatus(), b.GetVersion(), b.GetPaymentSaga())
	return false
}

// confirms returns the reservations the providers confirmed and cancelled.
func (w *sagaWorld) confirms() (confirmed, cancelled int64) {
	for _, p := range w.ps {
		_, _, c, x := p.ActionCounts()
		confirmed += c
		cancelled += x
	}
	return confirmed, cancelled
}

// TestPayBillHappyPath pays a bill: the total is authorized, every item confirmed (one
// call per provider) and the payment captured once; the bill becomes PAID.
func TestPayBillHappyPath(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	b, res := w.finalizedBill(e)
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	started := e.pay(t, b.GetId(), pm, "pay-1")
	if started.GetStatus() != billingv1.BillStatus_BILL_STATUS_FINALIZED && started.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("PayBill returned a %v bill", started.GetStatus())
	}
	s := started.GetPaymentSaga()
	if s.GetId() == "" || s.GetAttempt() != 1 || s.GetAmount().GetAmountMinor() != 22500 || s.GetPaymentMethodId() != pm {
		t.Fatalf("started saga = %v", s)
	}
	end := e.sagaEnded(t, b.GetId())
	if !w.consistent(end, res) {
		t.Fatalf("bill %v, saga %v: want PAID", end.GetStatus(), end.GetPaymentSaga())
	}
	if end.GetPaidTime() == nil || end.GetPaymentSaga().GetEndTime() == nil || end.GetPaymentSaga().GetId() != s.GetId() {
		t.Fatalf("paid bill = %v", end)
	}
	for name, p := range w.ps {
		if calls, _, _, _ := p.ActionCounts(); calls != 1 {
			t.Errorf("%s answered %d ConfirmReservations calls, want 1", name, calls)
		}
	}
	// PAID bills are not paid again, nor cancelled.
	_, err := e.customer.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: b.GetId(), PaymentMethodId: pm, RequestId: "pay-2"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, billing.ReasonBillNotPayable)
	_, err = e.customer.CancelBill(grpctest.Context(t), &billingv1.CancelBillRequest{BillId: b.GetId()})
	grpctest.WantCode(t, err, codes.FailedPrecondition)
}

// TestPayBillAuthorizeDeclined: a declined card confirms nothing and charges nothing; the
// bill becomes FAILED with the decline code, and a retry with another card pays it.
func TestPayBillAuthorizeDeclined(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	b, res := w.finalizedBill(e)
	declined := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_insufficient_funds")
	e.pay(t, b.GetId(), declined, "pay-declined")
	end := e.sagaEnded(t, b.GetId())
	if w.consistent(end, res) {
		t.Fatal("a declined card paid the bill")
	}
	if s := end.GetPaymentSaga(); s.GetFailureCode() != "insufficient_funds" || s.GetStep() != billingv1.PaymentSagaStep_PAYMENT_SAGA_STEP_AUTHORIZE {
		t.Fatalf("saga = %v, want failed at AUTHORIZE with insufficient_funds", s)
	}
	for name, p := range w.ps {
		if calls, cancels, _, _ := p.ActionCounts(); calls+cancels != 0 {
			t.Errorf("%s got %d confirm and %d cancel calls after a decline, want none", name, calls, cancels)
		}
	}

	// PayBill retries a FAILED bill: attempt 2 with a good card pays it.
	good := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_mastercard")
	retry := e.pay(t, b.GetId(), good, "pay-retry")
	if retry.GetPaymentSaga().GetAttempt() != 2 || retry.GetStatus() == billingv1.BillStatus_BILL_STATUS_FAILED {
		t.Fatalf("retry = %v with saga %v, want attempt 2 on a FINALIZED bill", retry.GetStatus(), retry.GetPaymentSaga())
	}
	end = e.sagaEnded(t, b.GetId())
	if end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("retried bill = %v (%v), want PAID", end.GetStatus(), end.GetPaymentSaga())
	}
	var captured int
	for _, p := range w.pay.payments(t, b.GetId()) {
		if p.GetStatus() == paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
			captured++
			if p.GetId() != end.GetPaymentId() {
				t.Fatalf("captured payment %s, bill says %s", p.GetId(), end.GetPaymentId())
			}
		}
	}
	if captured != 1 {
		t.Fatalf("%d captured payments, want 1", captured)
	}
}

// TestPayBillConfirmFails: one item cannot be confirmed (its hold expired), so the items
// already confirmed are cancelled with fees waived and the authorization is voided.
func TestPayBillConfirmFails(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	b, res := w.finalizedBill(e)
	expired := res["booking"][1]
	if _, err := w.ps["booking"].Update(context.Background(), expired, func(r *providertest.Reservation) {
		r.Status = reservationv1.MainStatus_MAIN_STATUS_EXPIRED
	}); err != nil {
		t.Fatal(err)
	}
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	e.pay(t, b.GetId(), pm, "pay-1")
	end := e.sagaEnded(t, b.GetId())
	if w.consistent(end, res) {
		t.Fatal("a bill with an expired item was paid")
	}
	s := end.GetPaymentSaga()
	var expiredItem string
	for _, it := range end.GetItems() {
		if it.GetReservationId() == expired {
			expiredItem = it.GetId()
		}
	}
	if s.GetFailureCode() != billing.FailureItemNotConfirmable || len(s.GetFailedItemIds()) != 1 || s.GetFailedItemIds()[0] != expiredItem {
		t.Fatalf("saga = %v, want item_not_confirmable for item %s", s, expiredItem)
	}
	pays := w.pay.payments(t, b.GetId())
	if len(pays) != 1 || pays[0].GetStatus() != paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED {
		t.Fatalf("payments = %v, want one VOIDED", pays)
	}
	// The two items that were confirmed are cancelled again, fees waived.
	if confirmed, cancelled := w.confirms(); confirmed != 2 || cancelled != 2 {
		t.Fatalf("providers confirmed %d and cancelled %d, want 2 and 2", confirmed, cancelled)
	}
}

// TestPayBillCaptureTimeout: the capture's outcome is unknown; the saga waits while the
// payment service reconciles it and never captures twice. A capture that did
// happen pays the bill; one that did not is compensated.
func TestPayBillCaptureTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		token    string
		wantPaid bool
	}{
		{"tok_sim_capture_timeout", true},
		{"tok_sim_capture_timeout_lost", false},
	} {
		t.Run(tc.token, func(t *testing.T) {
			t.Parallel()
			w := newSagaWorld(t)
			e := w.billing(nil)
			b, res := w.finalizedBill(e)
			pm := w.pay.method(t, w.pay.cust, "cust-1", tc.token)
			e.pay(t, b.GetId(), pm, "pay-1")
			end := e.sagaEnded(t, b.GetId())
			if paid := w.consistent(end, res); paid != tc.wantPaid {
				t.Fatalf("paid = %v (saga %v), want %v", paid, end.GetPaymentSaga(), tc.wantPaid)
			}
			if !tc.wantPaid && end.GetPaymentSaga().GetFailureCode() != billing.FailureCaptureFailed {
				t.Fatalf("saga = %v, want capture_failed", end.GetPaymentSaga())
			}
		})
	}
}

// TestPayBillResumesAfterKill kills billing's saga runner at each point between and
// inside the steps (after a call answered but before its outcome was stored, and after
// it was stored) and starts a fresh billing process on the same database: it takes the
// saga over once the lease ends and finishes it consistently, authorizing and capturing at
// most once.
func TestPayBillResumesAfterKill(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		point    string
		expire   bool // an item's hold expired, so the saga compensates
		wantPaid bool
	}{
		{"authorize:sent", false, true},
		{"authorize:done", false, true},
		{"confirm_items:sent", false, true},
		{"confirm_items:done", false, true},
		{"capture:sent", false, true},
		{"confirm_items:sent", true, false},
		{"compensate:cancel_sent", true, false},
		{"compensate:payment_sent", true, false},
	} {
		name := tc.point
		if tc.expire {
			name += "/compensating"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newSagaWorld(t)
			killed := make(chan struct{})
			var once sync.Once
			first := w.billing(func(ctx context.Context, _, point string) error {
				if point != tc.point {
					return nil
				}
				once.Do(func() { close(killed) })
				<-ctx.Done() // the process dies here
				return ctx.Err()
			})
			b, res := w.finalizedBill(first)
			if tc.expire {
				if _, err := w.ps["trip"].Update(context.Background(), res["trip"][0], func(r *providertest.Reservation) {
					r.Status = reservationv1.MainStatus_MAIN_STATUS_EXPIRED
				}); err != nil {
					t.Fatal(err)
				}
			}
			pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
			started := first.pay(t, b.GetId(), pm, "pay-1")
			select {
			case <-killed:
			case <-time.After(10 * time.Second):
				t.Fatalf("the saga never reached %s", tc.point)
			}
			first.stop()

			second := w.billing(nil)
			end := second.sagaEnded(t, b.GetId())
			if end.GetPaymentSaga().GetId() != started.GetPaymentSaga().GetId() {
				t.Fatalf("saga %s ended, want the one started (%s)", end.GetPaymentSaga().GetId(), started.GetPaymentSaga().GetId())
			}
			if paid := w.consistent(end, res); paid != tc.wantPaid {
				t.Fatalf("paid = %v (saga %v), want %v", paid, end.GetPaymentSaga(), tc.wantPaid)
			}
		})
	}
}

// TestPayBillIdempotent: PayBill retried with the same request id, also concurrently and
// after the saga ended, returns the same saga and authorizes once.
func TestPayBillIdempotent(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	b, res := w.finalizedBill(e)
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	var wg sync.WaitGroup
	sagas := make([]string, 4)
	errs := make([]error, 4)
	for i := range sagas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.customer.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: b.GetId(), PaymentMethodId: pm, RequestId: "pay-once"})
			errs[i] = err
			sagas[i] = resp.GetBill().GetPaymentSaga().GetId()
		}()
	}
	wg.Wait()
	var first string
	for i, err := range errs {
		if err != nil {
			// A concurrent duplicate may only be told to retry.
			grpctest.WantCode(t, err, codes.Aborted)
			continue
		}
		if first == "" {
			first = sagas[i]
		}
		if sagas[i] != first {
			t.Fatalf("the same request id started sagas %s and %s", first, sagas[i])
		}
	}
	end := e.sagaEnded(t, b.GetId())
	w.consistent(end, res)
	again := e.pay(t, b.GetId(), pm, "pay-once")
	if again.GetPaymentSaga().GetId() != end.GetPaymentSaga().GetId() || again.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("retry after the end = %v, saga %s; want PAID with saga %s", again.GetStatus(), again.GetPaymentSaga().GetId(), end.GetPaymentSaga().GetId())
	}
	if n := len(w.pay.payments(t, b.GetId())); n != 1 {
		t.Fatalf("%d authorizations, want 1", n)
	}
	// The same key for another call is refused.
	_, err := e.customer.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: b.GetId(), PaymentMethodId: pm, RequestId: "pay-once", ExpectedVersion: 1})
	grpctest.WantField(t, err, "request_id")
}

// TestPayBillRejects: bad input, bills that cannot be paid, other customers' bills and
// methods, and unusable methods get clear errors and start nothing.
func TestPayBillRejects(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	release := make(chan struct{})
	e := w.billing(func(ctx context.Context, _, point string) error {
		if point == "authorize:sent" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	otherPM := w.pay.method(t, w.pay.cust2, "cust-2", "tok_sim_visa")
	empty := e.openBill(t)
	open := e.openBill(t)
	e.add(t, open.GetId(), reservationv1.Kind_KIND_FLIGHT, e.reserve(t, "booking", providertest.Reservation{CustomerID: "cust-1", Kind: reservationv1.Kind_KIND_FLIGHT, Amount: 100}))
	b, _ := w.finalizedBill(e)

	pay := func(c billingv1.BillingServiceClient, billID, methodID, requestID string) error {
		_, err := c.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: billID, PaymentMethodId: methodID, RequestId: requestID})
		return err
	}
	grpctest.WantField(t, pay(e.customer, "", pm, "r"), "bill_id")
	grpctest.WantField(t, pay(e.customer, "not-a-uuid", pm, "r"), "bill_id")
	grpctest.WantField(t, pay(e.customer, b.GetId(), "", "r"), "payment_method_id")
	grpctest.WantField(t, pay(e.customer, b.GetId(), "pm-unknown", "r"), "payment_method_id")
	grpctest.WantField(t, pay(e.customer, b.GetId(), pm, ""), "request_id")
	grpctest.WantCode(t, pay(e.anon, b.GetId(), pm, "r"), codes.Unauthenticated)
	grpctest.WantReason(t, pay(e.customer, empty.GetId(), pm, "r-empty"), codes.FailedPrecondition, billing.ReasonBillNotPayable)
	grpctest.WantReason(t, pay(e.customer, open.GetId(), pm, "r-open"), codes.FailedPrecondition, billing.ReasonBillNotPayable)
	grpctest.WantReason(t, pay(e.customer2, b.GetId(), otherPM, "r-other"), codes.NotFound, billing.ReasonBillNotFound)
	grpctest.WantReason(t, pay(e.customer, b.GetId(), otherPM, "r-their-method"), codes.NotFound, billing.ReasonPaymentMethodNotFound)
	grpctest.WantReason(t, pay(e.customer, b.GetId(), billing.NewID(), "r-unknown"), codes.NotFound, billing.ReasonPaymentMethodNotFound)
	disabled := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_amex")
	if _, err := w.pay.cust.DisablePaymentMethod(grpctest.Context(t), &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: disabled}); err != nil {
		t.Fatal(err)
	}
	grpctest.WantReason(t, pay(e.customer, b.GetId(), disabled, "r-disabled"), codes.FailedPrecondition, billing.ReasonPaymentMethodNotUsable)
	if n := len(w.pay.payments(t, b.GetId())); n != 0 {
		t.Fatalf("%d payments after refused calls, want 0", n)
	}
	got, err := e.customer.GetBill(grpctest.Context(t), &billingv1.GetBillRequest{BillId: b.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetBill().GetPaymentSaga() != nil || got.GetBill().GetVersion() != b.GetVersion() {
		t.Fatalf("refused calls changed the bill: %v", got.GetBill())
	}

	// While a saga runs, a second PayBill and CancelBill are refused.
	e.pay(t, b.GetId(), pm, "r-ok")
	grpctest.WantReason(t, pay(e.customer, b.GetId(), pm, "r-second"), codes.FailedPrecondition, billing.ReasonPaymentInProgress)
	_, err = e.customer.CancelBill(grpctest.Context(t), &billingv1.CancelBillRequest{BillId: b.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, billing.ReasonPaymentInProgress)
	close(release)
	if end := e.sagaEnded(t, b.GetId()); end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("bill = %v, want PAID", end.GetStatus())
	}
}

// TestPaidBillSettles: when the payment service settles the day of the capture, its
// "payment.payment.settled" event moves the PAID bill to SETTLED.
func TestPaidBillSettles(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	w.pay.offset.Store(int64(-24 * time.Hour)) // the capture happens "yesterday"
	e := w.billing(nil)
	b, _ := w.finalizedBill(e)
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	e.pay(t, b.GetId(), pm, "pay-1")
	if end := e.sagaEnded(t, b.GetId()); end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("bill = %v, want PAID", end.GetStatus())
	}
	y := time.Now().Add(-24 * time.Hour).UTC()
	w.pay.offset.Store(0)
	if _, err := w.pay.ops.RunSettlement(grpctest.Context(t), &paymentv1.RunSettlementRequest{
		SettlementDate: &typev1.Date{Year: int32(y.Year()), Month: int32(y.Month()), Day: int32(y.Day())},
		RequestId:      fmt.Sprintf("settle-%s", y.Format(time.DateOnly)),
	}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the bill to settle", func() bool {
		resp, err := e.operator.GetBill(grpctest.Context(t), &billingv1.GetBillRequest{BillId: b.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetBill().GetStatus() == billingv1.BillStatus_BILL_STATUS_SETTLED && resp.GetBill().GetSettleTime() != nil
	})
}

// TestPayBillZeroTotal: a bill of free reservations moves no money, but paying it still
// confirms its items; a free item that was cancelled is left alone.
func TestPayBillZeroTotal(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	freeBill := func() (*billingv1.Bill, []string) {
		b := e.openBill(t)
		var ids []string
		for _, x := range []struct {
			provider string
			kind     reservationv1.Kind
		}{{"booking", reservationv1.Kind_KIND_FLIGHT}, {"trip", reservationv1.Kind_KIND_RIDE}} {
			id := e.reserve(t, x.provider, providertest.Reservation{CustomerID: "cust-1", Kind: x.kind, Amount: 0})
			e.add(t, b.GetId(), x.kind, id)
			ids = append(ids, id)
		}
		resp, err := e.customer.FinalizeBill(grpctest.Context(t), &billingv1.FinalizeBillRequest{BillId: b.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetBill(), ids
	}
	status := func(provider, id string) reservationv1.MainStatus {
		r, err := w.ps[provider].Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}

	b, ids := freeBill()
	e.pay(t, b.GetId(), pm, "pay-free")
	end := e.sagaEnded(t, b.GetId())
	if end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID || end.GetPaymentSaga().GetState() != billingv1.PaymentSagaState_PAYMENT_SAGA_STATE_SUCCEEDED {
		t.Fatalf("free bill ended %v, saga %v; want PAID", end.GetStatus(), end.GetPaymentSaga())
	}
	if st := status("booking", ids[0]); st != reservationv1.MainStatus_MAIN_STATUS_CONFIRMED {
		t.Fatalf("paid free bill's flight is %v, want CONFIRMED", st)
	}
	if st := status("trip", ids[1]); st != reservationv1.MainStatus_MAIN_STATUS_CONFIRMED {
		t.Fatalf("paid free bill's ride is %v, want CONFIRMED", st)
	}
	if pays := w.pay.payments(t, b.GetId()); len(pays) != 0 || end.GetPaymentId() != "" {
		t.Fatalf("free bill made payments %v (payment id %q), want none", pays, end.GetPaymentId())
	}

	// The free ride is cancelled before the bill is paid (and billing has seen it): it
	// costs nothing and is no longer billable, so the saga leaves it alone and confirms
	// the flight.
	b, ids = freeBill()
	if _, err := w.ps["trip"].Update(context.Background(), ids[1], func(r *providertest.Reservation) {
		r.Status = reservationv1.MainStatus_MAIN_STATUS_CANCELLED
	}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "billing to see the ride cancelled", func() bool {
		resp, err := e.operator.GetBill(grpctest.Context(t), &billingv1.GetBillRequest{BillId: b.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range resp.GetBill().GetItems() {
			if it.GetReservationId() == ids[1] {
				return it.GetMainStatus() == reservationv1.MainStatus_MAIN_STATUS_CANCELLED
			}
		}
		return false
	})
	e.pay(t, b.GetId(), pm, "pay-free-2")
	end = e.sagaEnded(t, b.GetId())
	if end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("free bill with a cancelled free ride ended %v, saga %v; want PAID", end.GetStatus(), end.GetPaymentSaga())
	}
	if st := status("booking", ids[0]); st != reservationv1.MainStatus_MAIN_STATUS_CONFIRMED {
		t.Fatalf("flight = %v, want CONFIRMED", st)
	}
	if st := status("trip", ids[1]); st != reservationv1.MainStatus_MAIN_STATUS_CANCELLED {
		t.Fatalf("cancelled ride = %v, want left CANCELLED", st)
	}
	if pays := w.pay.payments(t, b.GetId()); len(pays) != 0 {
		t.Fatalf("free bill made payments %v", pays)
	}
}

// TestPayBillBacksOffWhileAProviderIsDown: while booking refuses confirmations with
// UNAVAILABLE, the saga retries with a growing backoff (its retry count keeps rising
// although each attempt saves its progress), and once booking is back the bill is paid.
func TestPayBillBacksOffWhileAProviderIsDown(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	b, res := w.finalizedBill(e)
	w.ps["booking"].SetActionsDown(true)
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	e.pay(t, b.GetId(), pm, "pay-1")
	grpctest.Eventually(t, 10*time.Second, "the confirm step retried 4 times in a row", func() bool {
		var retries int
		err := w.pool.QueryRow(context.Background(),
			`SELECT coalesce((progress->>'retries')::int, 0) FROM pay_sagas WHERE bill_id = $1`, b.GetId()).Scan(&retries)
		return err == nil && retries >= 4
	})
	w.ps["booking"].SetActionsDown(false)
	if end := e.sagaEnded(t, b.GetId()); !w.consistent(end, res) || end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("after booking came back: bill %v", end)
	}
}
