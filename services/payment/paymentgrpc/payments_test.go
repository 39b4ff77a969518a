package paymentgrpc_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/payment/payment"
)

const (
	stAuthorized = paymentv1.PaymentStatus_PAYMENT_STATUS_AUTHORIZED
	stPartially  = paymentv1.PaymentStatus_PAYMENT_STATUS_PARTIALLY_CAPTURED
	stCaptured   = paymentv1.PaymentStatus_PAYMENT_STATUS_CAPTURED
	stPartRefund = paymentv1.PaymentStatus_PAYMENT_STATUS_PARTIALLY_REFUNDED
	stRefunded   = paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	stVoided     = paymentv1.PaymentStatus_PAYMENT_STATUS_VOIDED
	stFailed     = paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED
	stPending    = paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING_RECONCILIATION
	opSucceeded  = paymentv1.OperationStatus_OPERATION_STATUS_SUCCEEDED
	opFailed     = paymentv1.OperationStatus_OPERATION_STATUS_FAILED
	opPending    = paymentv1.OperationStatus_OPERATION_STATUS_PENDING
)

// 50 concurrent AuthorizePayment calls with one idempotency key authorize once, at the
// processor and in the database; every call gets the first response byte for byte, or ABORTED
// while it runs.
func TestConcurrentAuthorizeWithOneKey(t *testing.T) {
	t.Parallel()
	e := start(t)
	m := e.method("tok_sim_visa")
	// Widen the window in which the first call is in flight; nothing asserts on timing.
	e.setHook(func(string) error { time.Sleep(20 * time.Millisecond); return nil })
	req := &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(4200), Reference: "bill-1", RequestId: "auth-once"}
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var oks [][]byte
	aborted := 0
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := e.svc().AuthorizePayment(grpctest.Context(t), req)
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				oks = append(oks, marshal(t, resp))
			case codes.Aborted:
				if grpctest.Reason(err) != "REQUEST_IN_PROGRESS" {
					t.Errorf("aborted with %v", err)
				}
				aborted++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(oks)+aborted != n || len(oks) == 0 {
		t.Fatalf("%d OK, %d aborted", len(oks), aborted)
	}
	for _, b := range oks[1:] {
		if !bytes.Equal(b, oks[0]) {
			t.Fatal("a replay differs from the first response")
		}
	}
	// Once the first completed, a retry replays it too.
	e.setHook(nil)
	resp, err := e.svc().AuthorizePayment(grpctest.Context(t), req)
	if err != nil || !bytes.Equal(marshal(t, resp), oks[0]) {
		t.Fatalf("late retry: %v", err)
	}
	if resp.GetPayment().GetStatus() != stAuthorized || resp.GetOperation().GetStatus() != opSucceeded {
		t.Fatalf("payment %v", resp)
	}
	if got := e.sim.Authorizations(); got != 1 {
		t.Fatalf("the processor authorized %d times", got)
	}
	if e.count("payment") != 1 || e.count("payment_operation") != 1 || len(e.eventsOf(payment.EventAuthorized)) != 1 {
		t.Fatalf("%d payments, %d operations in the database", e.count("payment"), e.count("payment_operation"))
	}
}

// The same key with different parameters is rejected with INVALID_ARGUMENT naming request_id
// and writes nothing.
func TestSameKeyDifferentParameters(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	first, err := e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(100), RequestId: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*paymentv1.AuthorizePaymentRequest{
		"amount":    {PaymentMethodId: m.GetId(), Amount: eur(101), RequestId: "k"},
		"currency":  {PaymentMethodId: m.GetId(), Amount: &typev1.Money{AmountMinor: 100, CurrencyCode: "USD"}, RequestId: "k"},
		"reference": {PaymentMethodId: m.GetId(), Amount: eur(100), Reference: "other", RequestId: "k"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc().AuthorizePayment(ctx, req)
			grpctest.WantField(t, err, "request_id")
			if info := grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED"); info.GetDomain() != "payment.waybill.dev" {
				t.Errorf("ErrorInfo domain %q", info.GetDomain())
			}
		})
	}
	pid := first.GetPayment().GetId()
	if _, err := e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: eur(40), RequestId: "c"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: eur(50), RequestId: "c"})
	grpctest.WantField(t, err, "request_id")
	// Keys are scoped to the method: the capture's key is new for a refund.
	if _, err := e.svc().RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: pid, Amount: eur(10), RequestId: "c"}); err != nil {
		t.Fatal(err)
	}
	if e.count("payment") != 1 || e.sim.Authorizations() != 1 || e.sim.Calls("capture") != 1 {
		t.Fatal("a rejected reuse wrote or called something")
	}
}

// A process that dies between the processor call and the commit never makes a retry capture
// twice: the retry takes the key over after its lease and asks the processor what happened.
func TestCrashBetweenCaptureAndCommit(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	p := e.authorize(e.method("tok_sim_visa").GetId(), eur(1000))
	crashes := 1
	e.setHook(func(method string) error {
		if method == "CapturePayment" && crashes > 0 {
			crashes--
			return errCrash
		}
		return nil
	})
	req := &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), Amount: eur(600), RequestId: "cap-1"}
	_, err := e.svc().CapturePayment(ctx, req)
	grpctest.WantCode(t, err, codes.Internal)
	authRef := p.GetProcessorReference()
	if st, _ := e.sim.Authorization(authRef); st.CaptureCount != 1 {
		t.Fatalf("the processor captured %d times", st.CaptureCount)
	}
	// Within the lease the key and the payment belong to the dead attempt.
	_, err = e.svc().CapturePayment(ctx, req)
	grpctest.WantReason(t, err, codes.Aborted, "REQUEST_IN_PROGRESS")
	_, err = e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), Amount: eur(100), RequestId: "cap-other"})
	grpctest.WantReason(t, err, codes.Aborted, "PAYMENT_BUSY")
	e.clock.Advance(lease + time.Second)
	resp, err := e.svc().CapturePayment(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOperation().GetStatus() != opSucceeded || resp.GetPayment().GetStatus() != stPartially ||
		resp.GetPayment().GetCapturedAmount().GetAmountMinor() != 600 {
		t.Fatalf("after takeover: %v", resp)
	}
	if st, _ := e.sim.Authorization(authRef); st.CaptureCount != 1 || st.Captured != 600 {
		t.Fatalf("the processor captured %d times (%d)", st.CaptureCount, st.Captured)
	}
	if e.sim.Calls("lookup") == 0 {
		t.Fatal("the takeover did not ask the processor")
	}
	again, err := e.svc().CapturePayment(ctx, req)
	if err != nil || !proto.Equal(again, resp) {
		t.Fatalf("replay after takeover: %v", err)
	}
	if n := len(e.eventsOf(payment.EventCaptured)); n != 1 {
		t.Fatalf("%d captured events", n)
	}
}

// After a crash, another request on the payment reconciles the dead attempt's capture first;
// the dead attempt's own retry then returns what happened. Captured once.
func TestCrashThenOtherRequestReconcilesFirst(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	p := e.authorize(e.method("tok_sim_visa").GetId(), eur(1000))
	e.setHook(func(method string) error {
		if method == "CapturePayment" {
			return errCrash
		}
		return nil
	})
	req := &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), RequestId: "cap-all"}
	_, err := e.svc().CapturePayment(ctx, req)
	grpctest.WantCode(t, err, codes.Internal)
	e.setHook(nil)
	e.clock.Advance(lease + time.Second)
	// Everything is captured now, so a second full capture is refused, not performed.
	_, err = e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), RequestId: "cap-again"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "PAYMENT_NOT_CAPTURABLE")
	resp, err := e.svc().CapturePayment(ctx, req)
	if err != nil || resp.GetOperation().GetStatus() != opSucceeded || resp.GetPayment().GetStatus() != stCaptured {
		t.Fatalf("original retry: %v %v", resp, err)
	}
	if st, _ := e.sim.Authorization(p.GetProcessorReference()); st.CaptureCount != 1 || st.Captured != 1000 {
		t.Fatalf("captured %d times", st.CaptureCount)
	}
}

// A crash after an authorization: the retry finds the authorization at the processor instead
// of authorizing again.
func TestCrashBetweenAuthorizeAndCommit(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	e.setHook(func(method string) error {
		if method == "AuthorizePayment" {
			return errCrash
		}
		return nil
	})
	req := &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(700), RequestId: "auth-crash"}
	_, err := e.svc().AuthorizePayment(ctx, req)
	grpctest.WantCode(t, err, codes.Internal)
	e.setHook(nil)
	_, err = e.svc().AuthorizePayment(ctx, req)
	grpctest.WantCode(t, err, codes.Aborted)
	e.clock.Advance(lease + time.Second)
	resp, err := e.svc().AuthorizePayment(ctx, req)
	if err != nil || resp.GetPayment().GetStatus() != stAuthorized {
		t.Fatalf("retry: %v %v", resp, err)
	}
	if e.sim.Authorizations() != 1 || e.count("payment") != 1 {
		t.Fatalf("%d authorizations at the processor, %d payments", e.sim.Authorizations(), e.count("payment"))
	}
}

// Declines and insufficient funds are results: stored, and replayed for the same key without
// asking the processor again.
func TestDeclinesAreStoredAndReplayed(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	for _, tc := range []struct{ token, code string }{
		{"tok_sim_card_declined", "card_declined"},
		{"tok_sim_insufficient_funds", "insufficient_funds"},
		{"tok_sim_expired_card", "expired_card"},
	} {
		m := e.method(tc.token)
		calls := e.sim.Calls("authorize")
		req := &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(900), RequestId: "decl-" + tc.code}
		first, err := e.svc().AuthorizePayment(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if first.GetPayment().GetStatus() != stFailed || first.GetPayment().GetDeclineCode() != tc.code ||
			first.GetOperation().GetStatus() != opFailed || first.GetPayment().GetFailureMessage() == "" {
			t.Fatalf("%s: %v", tc.code, first)
		}
		again, err := e.svc().AuthorizePayment(ctx, req)
		if err != nil || !bytes.Equal(marshal(t, again), marshal(t, first)) {
			t.Fatalf("%s replay differs: %v", tc.code, err)
		}
		if e.sim.Calls("authorize") != calls+1 {
			t.Fatalf("%s: the replay called the processor", tc.code)
		}
		// A failed payment cannot be captured.
		_, err = e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: first.GetPayment().GetId(), RequestId: "cap-" + tc.code})
		grpctest.WantCode(t, err, codes.FailedPrecondition)
	}
	if n := len(e.eventsOf(payment.EventFailed)); n != 3 {
		t.Fatalf("%d failed events", n)
	}
	// Errors raised after execution began are replayed too.
	m := e.method("tok_sim_visa")
	if _, err := e.svc().DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: m.GetId()}); err != nil {
		t.Fatal(err)
	}
	req := &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(1), RequestId: "on-disabled"}
	_, err1 := e.svc().AuthorizePayment(ctx, req)
	_, err2 := e.svc().AuthorizePayment(ctx, req)
	grpctest.WantReason(t, err1, codes.FailedPrecondition, "PAYMENT_METHOD_DISABLED")
	st1, st2 := status.Convert(err1), grpctest.WantCode(t, err2, codes.FailedPrecondition)
	if !proto.Equal(st1.Proto(), st2.Proto()) {
		t.Fatalf("replayed error differs: %v / %v", st1, st2)
	}
}

// Capture and refund timeouts leave the payment PENDING_RECONCILIATION; a retry with the same
// key asks the processor before anything else and returns the resolved state.
func TestUnknownOutcomesAreReconciled(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	p := e.authorize(e.method("tok_sim_capture_timeout").GetId(), eur(500))
	req := &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), RequestId: "cap-timeout"}
	first, err := e.svc().CapturePayment(ctx, req)
	if err != nil || first.GetPayment().GetStatus() != stPending || first.GetOperation().GetStatus() != opPending {
		t.Fatalf("timeout: %v %v", first, err)
	}
	// Nothing else may start while the outcome is unknown... unless the processor can tell.
	_, err = e.svc().VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: p.GetId(), RequestId: "void"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "PAYMENT_NOT_VOIDABLE")
	again, err := e.svc().CapturePayment(ctx, req)
	if err != nil || again.GetPayment().GetStatus() != stCaptured || again.GetOperation().GetStatus() != opSucceeded {
		t.Fatalf("retry: %v %v", again, err)
	}
	if st, _ := e.sim.Authorization(p.GetProcessorReference()); st.CaptureCount != 1 {
		t.Fatalf("captured %d times", st.CaptureCount)
	}
	// The resolved response is what later retries replay.
	third, err := e.svc().CapturePayment(ctx, req)
	if err != nil || !bytes.Equal(marshal(t, third), marshal(t, again)) {
		t.Fatalf("third: %v", err)
	}

	// An authorization that timed out but happened: ReconcilePayment finds it.
	pa, err := e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{
		PaymentMethodId: e.method("tok_sim_authorize_timeout").GetId(), Amount: eur(300), RequestId: "auth-timeout"})
	if err != nil || pa.GetPayment().GetStatus() != stPending {
		t.Fatalf("authorize timeout: %v %v", pa, err)
	}
	rec, err := e.svc().ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{PaymentId: pa.GetPayment().GetId()})
	if err != nil || !rec.GetResolved() || rec.GetPayment().GetStatus() != stAuthorized {
		t.Fatalf("reconcile: %v %v", rec, err)
	}
	rec, err = e.svc().ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{PaymentId: pa.GetPayment().GetId()})
	if err != nil || rec.GetResolved() {
		t.Fatalf("second reconcile: %v %v", rec, err)
	}

	// An authorization that timed out and never happened fails on reconciliation.
	pl, err := e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{
		PaymentMethodId: e.method("tok_sim_authorize_timeout_lost").GetId(), Amount: eur(300), RequestId: "auth-lost"})
	if err != nil || pl.GetPayment().GetStatus() != stPending {
		t.Fatal(err)
	}
	rec, err = e.svc().ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{PaymentId: pl.GetPayment().GetId()})
	if err != nil || !rec.GetResolved() || rec.GetPayment().GetStatus() != stFailed || rec.GetPayment().GetDeclineCode() != "not_processed" {
		t.Fatalf("reconcile lost: %v %v", rec, err)
	}

	// A refund that timed out: the background reconciler resolves it.
	pr := e.authorize(e.method("tok_sim_refund_timeout").GetId(), eur(800))
	e.capture(pr.GetId(), nil)
	rf, err := e.svc().RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: pr.GetId(), Amount: eur(300), RequestId: "ref-timeout"})
	if err != nil || rf.GetPayment().GetStatus() != stPending {
		t.Fatalf("refund timeout: %v %v", rf, err)
	}
	e.tick()
	got, err := e.svc().GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: pr.GetId(), View: typev1.View_VIEW_FULL})
	if err != nil || got.GetPayment().GetStatus() != stPartRefund || got.GetPayment().GetRefundedAmount().GetAmountMinor() != 300 ||
		len(got.GetPayment().GetTimeline()) != 3 {
		t.Fatalf("after background reconciliation: %v %v", got, err)
	}
}

// Concurrent partial refunds never exceed the captured amount, at the processor or in the
// database: each racer retries its own key on ABORTED until it gets an answer.
func TestConcurrentRefundsNeverExceedCaptures(t *testing.T) {
	t.Parallel()
	e := start(t)
	p := e.authorize(e.method("tok_sim_visa").GetId(), eur(1000))
	e.capture(p.GetId(), eur(1000))
	const racers = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]int{}
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &paymentv1.RefundPaymentRequest{PaymentId: p.GetId(), Amount: eur(100), RequestId: fmt.Sprintf("ref-%d", i)}
			for attempt := 0; attempt < 2000; attempt++ {
				resp, err := e.svc().RefundPayment(grpctest.Context(t), req)
				code := status.Code(err)
				if code == codes.Aborted {
					time.Sleep(time.Millisecond)
					continue
				}
				key := code.String()
				if err == nil {
					key = resp.GetOperation().GetStatus().String()
				} else {
					key += "/" + grpctest.Reason(err)
				}
				mu.Lock()
				results[key]++
				mu.Unlock()
				return
			}
			t.Error("a racer never got an answer")
		}()
	}
	wg.Wait()
	if results[opSucceeded.String()] != 10 || results[opSucceeded.String()]+results["FailedPrecondition/AMOUNT_EXCEEDS_REFUNDABLE"]+results["FailedPrecondition/PAYMENT_NOT_REFUNDABLE"] != racers {
		t.Fatalf("results %v", results)
	}
	st, _ := e.sim.Authorization(p.GetProcessorReference())
	if st.Refunded != 1000 || st.RefundCount != 10 {
		t.Fatalf("the processor refunded %d in %d refunds", st.Refunded, st.RefundCount)
	}
	got, err := e.svc().GetPayment(grpctest.Context(t), &paymentv1.GetPaymentRequest{PaymentId: p.GetId()})
	if err != nil || got.GetPayment().GetRefundedAmount().GetAmountMinor() != 1000 || got.GetPayment().GetStatus() != stRefunded {
		t.Fatalf("payment %v %v", got, err)
	}
	if n := len(e.eventsOf(payment.EventRefunded)); n != 10 {
		t.Fatalf("%d refunded events", n)
	}
}

// Partial captures, a void of the remainder, and the limits of each.
func TestCaptureVoidRefundFlow(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	p := e.authorize(e.method("tok_sim_visa").GetId(), eur(1000))
	if r := e.capture(p.GetId(), eur(300)); r.GetPayment().GetStatus() != stPartially {
		t.Fatal(r)
	}
	_, err := e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), Amount: eur(701), RequestId: "too-much"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE")
	v, err := e.svc().VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: p.GetId(), Reason: "trip shorter", RequestId: "void"})
	if err != nil || v.GetPayment().GetStatus() != stCaptured || v.GetOperation().GetAmount().GetAmountMinor() != 700 ||
		v.GetPayment().GetAuthorizationExpireTime() != nil {
		t.Fatalf("void: %v %v", v, err)
	}
	_, err = e.svc().RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: p.GetId(), Amount: eur(301), RequestId: "r-too-much"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE")
	r, err := e.svc().RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: p.GetId(), RequestId: "r-all"})
	if err != nil || r.GetPayment().GetStatus() != stRefunded || r.GetOperation().GetAmount().GetAmountMinor() != 300 {
		t.Fatalf("refund: %v %v", r, err)
	}
	p2 := e.authorize(e.method("tok_sim_visa").GetId(), eur(50))
	v2, err := e.svc().VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: p2.GetId(), RequestId: "void-2"})
	if err != nil || v2.GetPayment().GetStatus() != stVoided {
		t.Fatalf("void 2: %v %v", v2, err)
	}
	// Expired authorizations are voided by the background work.
	p3 := e.authorize(e.method("tok_sim_visa").GetId(), eur(70))
	e.clock.Advance(payment.DefaultAuthorizationTTL + time.Minute)
	e.tick()
	got, err := e.svc().GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p3.GetId()})
	if err != nil || got.GetPayment().GetStatus() != stVoided || got.GetPayment().GetSubStatus() != "authorization_expired" {
		t.Fatalf("expired: %v %v", got, err)
	}
	if n := len(e.eventsOf(payment.EventVoided)); n != 3 {
		t.Fatalf("%d voided events", n)
	}
}

// When the processor cannot be reached nothing is recorded: the same key works later.
func TestUnavailableProcessorRecordsNothing(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	req := &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(10), RequestId: "down"}
	e.sim.SetUnavailable(true)
	_, err := e.svc().AuthorizePayment(ctx, req)
	grpctest.WantReason(t, err, codes.Unavailable, "PROCESSOR_UNAVAILABLE")
	if e.count("idempotency_keys") != 0 || e.count("payment") != 0 {
		t.Fatal("an unavailable processor left a record")
	}
	e.sim.SetUnavailable(false)
	resp, err := e.svc().AuthorizePayment(ctx, req)
	if err != nil || resp.GetPayment().GetStatus() != stAuthorized {
		t.Fatal(err)
	}
	e.sim.SetUnavailable(true)
	_, err = e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: resp.GetPayment().GetId(), RequestId: "cap-down"})
	grpctest.WantReason(t, err, codes.Unavailable, "PROCESSOR_UNAVAILABLE")
	e.sim.SetUnavailable(false)
	if c, err := e.svc().CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: resp.GetPayment().GetId(), RequestId: "cap-down"}); err != nil || c.GetPayment().GetStatus() != stCaptured {
		t.Fatalf("capture after the outage: %v %v", c, err)
	}
	if e.count("payment_operation") != 2 {
		t.Fatalf("%d operations", e.count("payment_operation"))
	}
}

// Keys expire after 24 hours: the same key then starts a new request.
func TestKeysExpireAfter24Hours(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	first, err := e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(10), RequestId: "daily"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24*time.Hour + time.Second)
	second, err := e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(20), RequestId: "daily"})
	if err != nil || second.GetPayment().GetId() == first.GetPayment().GetId() {
		t.Fatalf("expired key: %v %v", second, err)
	}
}

// Customers read their own payments and move no money; anonymous callers are refused.
func TestPaymentPermissions(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	p := e.authorize(m.GetId(), eur(10))
	_, err := e.as(alice).AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(10), RequestId: "x"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.as(alice).CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), RequestId: "x"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.as(alice).RunSettlement(ctx, &paymentv1.RunSettlementRequest{})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if got, err := e.as(alice).GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p.GetId()}); err != nil || got.GetPayment().GetId() != p.GetId() {
		t.Fatalf("own payment: %v", err)
	}
	_, err = e.as(bob).GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	list, err := e.as(alice).ListPayments(ctx, &paymentv1.ListPaymentsRequest{})
	if err != nil || len(list.GetPayments()) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	_, err = e.as(bob).ListPayments(ctx, &paymentv1.ListPaymentsRequest{CustomerId: alice.Subject})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.as(anonymous).GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p.GetId()})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	if e.count("idempotency_keys") != 1 {
		t.Fatalf("refused calls recorded keys: %d", e.count("idempotency_keys"))
	}
	sub, err := e.as(operator).SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{PaymentId: p.GetId(), SubStatus: "disputed", ExpectedVersion: p.GetVersion()})
	if err != nil || sub.GetPayment().GetSubStatus() != "disputed" || sub.GetPayment().GetVersion() != p.GetVersion()+1 {
		t.Fatalf("sub-status: %v %v", sub, err)
	}
	_, err = e.as(operator).SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{PaymentId: p.GetId(), SubStatus: "x", ExpectedVersion: p.GetVersion()})
	grpctest.WantCode(t, err, codes.Aborted)
	byRef, err := e.svc().ListPayments(ctx, &paymentv1.ListPaymentsRequest{Reference: "nothing"})
	if err != nil || len(byRef.GetPayments()) != 0 {
		t.Fatalf("by reference: %v %v", byRef, err)
	}
}

func (e *env) tick() {
	e.t.Helper()
	// The background work runs through the same service as the server; a fresh one on the same
	// database and simulator is equivalent.
	svc := e.service()
	svc.Tick(context.Background())
}
