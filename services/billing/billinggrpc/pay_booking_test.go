package billinggrpc_test

import (
	"testing"
	"time"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billingapp"
)

// TestPayBillWithRealBooking runs the pay saga against the real booking and payment
// services: a bill of two held seats is paid and booking confirms both; on a second bill
// one seat was cancelled by the customer, so booking refuses to confirm it, the other
// seat (confirmed by the saga) is cancelled again with fees waived and the payment voided.
func TestPayBillWithRealBooking(t *testing.T) {
	t.Parallel()
	rb := startRealBooking(t, nil)
	res, addr := rb.res, rb.addr
	pay := startPayment(t)
	e := startBilling(t, newBillingDB(t), nil, "flight=booking@"+addr, func(c *billingapp.Config) {
		c.PaymentAddr = pay.addr
		c.Saga = billing.RunnerOptions{Poll: 100 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond}
	})
	pm := pay.method(t, pay.cust, "cust-1", "tok_sim_visa")
	c := grpctest.Context(t)
	dep := rb.departure(t, "401")
	hold := func() string { return rb.hold(t, dep) }
	bookingStatus := func(id string) bookingv1.ReservationStatus {
		t.Helper()
		r, err := res.GetReservation(c, &bookingv1.GetReservationRequest{ReservationId: id})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetReservation().GetStatus()
	}
	billOf := func(ids ...string) string {
		t.Helper()
		b := e.openBill(t)
		for _, id := range ids {
			e.add(t, b.GetId(), reservationv1.Kind_KIND_FLIGHT, id)
		}
		if _, err := e.customer.FinalizeBill(c, &billingv1.FinalizeBillRequest{BillId: b.GetId()}); err != nil {
			t.Fatal(err)
		}
		return b.GetId()
	}

	// Paid: booking confirms both seats, the payment is captured.
	a1, a2 := hold(), hold()
	paid := billOf(a1, a2)
	e.pay(t, paid, pm, "pay-paid")
	if end := e.sagaEnded(t, paid); end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("bill = %v (%v), want PAID", end.GetStatus(), end.GetPaymentSaga())
	}
	for _, id := range []string{a1, a2} {
		if st := bookingStatus(id); st != bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED {
			t.Fatalf("paid seat %s is %v in booking, want CONFIRMED", id, st)
		}
	}
	if ps := pay.payments(t, paid); len(ps) != 1 || ps[0].GetCapturedAmount().GetAmountMinor() != 20000 {
		t.Fatalf("payments = %v, want one capture of 200.00", ps)
	}

	// Failed: the customer cancelled one seat after finalizing.
	b1, b2 := hold(), hold()
	failed := billOf(b1, b2)
	if _, err := res.CancelReservation(c, &bookingv1.CancelReservationRequest{ReservationId: b2, Reason: "changed plans"}); err != nil {
		t.Fatal(err)
	}
	e.pay(t, failed, pm, "pay-failed")
	end := e.sagaEnded(t, failed)
	if end.GetStatus() != billingv1.BillStatus_BILL_STATUS_FAILED || end.GetPaymentSaga().GetFailureCode() != billing.FailureItemNotConfirmable {
		t.Fatalf("bill = %v (%v), want FAILED with item_not_confirmable", end.GetStatus(), end.GetPaymentSaga())
	}
	for _, id := range []string{b1, b2} {
		if st := bookingStatus(id); st != bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED {
			t.Fatalf("seat %s of the failed bill is %v in booking, want CANCELLED", id, st)
		}
	}
	if ps := pay.payments(t, failed); len(ps) != 1 || ps[0].GetStatus().String() != "PAYMENT_STATUS_VOIDED" {
		t.Fatalf("payments = %v, want one VOIDED", ps)
	}
}
