package billinggrpc_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

// TestCustomerCannotSetServerFields: of a bill's fields, a customer may set neither the
// operator's sub-status nor another customer's id: both are refused with PERMISSION_DENIED
// naming the field (reason FIELD_NOT_SETTABLE), and no bill is opened; operators and
// services set them (issue 11, finding 5).
func TestCustomerCannotSetServerFields(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	bill := e.openBill(t)
	tests := []struct {
		field string
		call  func() error
	}{
		{"sub_status", func() error {
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", SubStatus: "approved_by_finance"})
			return err
		}},
		{"sub_status", func() error { // with a request id: nothing is recorded either
			_, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", SubStatus: "vip", RequestId: "open-vip"})
			return err
		}},
		{"customer_id", func() error {
			_, err := e.customer2.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			err := tc.call()
			info := grpctest.WantReason(t, err, codes.PermissionDenied, "FIELD_NOT_SETTABLE")
			if info.GetMetadata()["field"] != tc.field || !strings.Contains(status.Convert(err).Message(), tc.field) {
				t.Fatalf("%v (metadata %v) does not name %s", err, info.GetMetadata(), tc.field)
			}
		})
	}
	// SetBillSubStatus is the operators' and services' too.
	_, err := e.customer.SetBillSubStatus(ctx, &billingv1.SetBillSubStatusRequest{BillId: bill.GetId(), SubStatus: "approved_by_finance"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if n := e.count(t, "bills"); n != 1 {
		t.Fatalf("%d bills after refused calls, want 1", n)
	}
	// The customer may still open the bill without the field.
	if _, err := e.customer.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", RequestId: "open-vip"}); err != nil {
		t.Fatalf("the customer's bill without a sub-status: %v", err)
	}
	for _, c := range []billingv1.BillingServiceClient{e.operator, e.service} {
		b, err := c.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR", SubStatus: "awaiting_po_number"})
		if err != nil || b.GetBill().GetSubStatus() != "awaiting_po_number" {
			t.Fatalf("a privileged caller's sub-status: %v, %v", b, err)
		}
	}
}

// TestOthersObjectsAreNotFound: another customer's bill, reservation or payment method
// is answered exactly like one that does not exist: the same code, reason and message but
// for the id (issue 11, finding 7).
func TestOthersObjectsAreNotFound(t *testing.T) {
	t.Parallel()
	w := newSagaWorld(t)
	e := w.billing(nil)
	ctx := grpctest.Context(t)
	theirBill := e.openBill(t) // cust-1's
	mine, err := e.customer2.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-2", CurrencyCode: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	myBill := mine.GetBill().GetId()
	theirRes := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_FLIGHT, CustomerID: "cust-1", Amount: 1000})
	theirMethod := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")
	missing, missingItem := billing.NewID(), billing.NewID()
	c2 := e.customer2

	same := func(t *testing.T, other, absent error, otherID, absentID string, code codes.Code) {
		t.Helper()
		grpctest.WantCode(t, other, code)
		grpctest.WantCode(t, absent, code)
		a := strings.ReplaceAll(status.Convert(other).Message(), otherID, "<id>")
		b := strings.ReplaceAll(status.Convert(absent).Message(), absentID, "<id>")
		if a != b || grpctest.Reason(other) != grpctest.Reason(absent) {
			t.Errorf("another customer's: %v; a missing one: %v", other, absent)
		}
	}
	bills := []struct {
		name string
		call func(id string) error
	}{
		{"GetBill", func(id string) error {
			_, err := c2.GetBill(ctx, &billingv1.GetBillRequest{BillId: id})
			return err
		}},
		{"AddBillItem", func(id string) error {
			_, err := c2.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: id, Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: theirRes})
			return err
		}},
		{"RemoveBillItem", func(id string) error {
			_, err := c2.RemoveBillItem(ctx, &billingv1.RemoveBillItemRequest{BillId: id, ItemId: missingItem})
			return err
		}},
		{"FinalizeBill", func(id string) error {
			_, err := c2.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: id})
			return err
		}},
		{"PayBill", func(id string) error {
			_, err := c2.PayBill(ctx, &billingv1.PayBillRequest{BillId: id, PaymentMethodId: theirMethod, RequestId: "pay-" + id})
			return err
		}},
		{"CancelBill", func(id string) error {
			_, err := c2.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: id})
			return err
		}},
	}
	for _, tc := range bills {
		t.Run(tc.name, func(t *testing.T) {
			same(t, tc.call(theirBill.GetId()), tc.call(missing), theirBill.GetId(), missing, codes.NotFound)
		})
	}
	t.Run("AddBillItem with another customer's reservation", func(t *testing.T) {
		add := func(id string) error {
			_, err := c2.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: myBill, Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: id})
			return err
		}
		same(t, add(theirRes), add("booking-no-such-reservation"), theirRes, "booking-no-such-reservation", codes.NotFound)
	})
	t.Run("PayBill with another customer's payment method", func(t *testing.T) {
		id := e.reserve(t, "booking", providertest.Reservation{Kind: reservationv1.Kind_KIND_FLIGHT, CustomerID: "cust-2", Amount: 1000})
		if _, err := e.operator.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: myBill, Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: myBill}); err != nil {
			t.Fatal(err)
		}
		pay := func(method string) error {
			_, err := c2.PayBill(ctx, &billingv1.PayBillRequest{BillId: myBill, PaymentMethodId: method, RequestId: "pay-with-" + method})
			return err
		}
		same(t, pay(theirMethod), pay(missing), theirMethod, missing, codes.NotFound)
	})
	// An operator, who sees every customer's objects, is told what is wrong.
	open, err := e.operator.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "cust-2", CurrencyCode: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.operator.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: open.GetBill().GetId(), Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: theirRes})
	grpctest.WantReason(t, err, codes.FailedPrecondition, billing.ReasonCustomerMismatch)
	if got, err := e.customer.GetBill(ctx, &billingv1.GetBillRequest{BillId: theirBill.GetId()}); err != nil ||
		got.GetBill().GetVersion() != 1 || got.GetBill().GetStatus() != billingv1.BillStatus_BILL_STATUS_OPEN {
		t.Fatalf("cust-1's bill changed: %v, %v", got, err)
	}
}

// TestIDsAreChecked: a payment method id must be a UUID, and a reservation id the
// provider cannot have (booking's are UUIDs) is INVALID_ARGUMENT naming reservation_id,
// not an unavailable provider (issue 11, finding 8).
func TestIDsAreChecked(t *testing.T) {
	t.Parallel()
	rb := startRealBooking(t, nil)
	e := startBilling(t, newBillingDB(t), nil, "flight=booking@"+rb.addr)
	ctx := grpctest.Context(t)
	bill := e.openBill(t)
	_, err := e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: "not-a-uuid"})
	grpctest.WantField(t, err, "reservation_id")
	_, err = e.customer.PayBill(ctx, &billingv1.PayBillRequest{BillId: bill.GetId(), PaymentMethodId: "pm", RequestId: "p"})
	grpctest.WantField(t, err, "payment_method_id")
	_, err = e.customer.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetId(), Kind: reservationv1.Kind_KIND_FLIGHT, ReservationId: billing.NewID()})
	grpctest.WantReason(t, err, codes.NotFound, billing.ReasonReservationNotFound)
	if n := e.count(t, "bill_items"); n != 0 {
		t.Fatalf("%d items after refused adds", n)
	}
}
