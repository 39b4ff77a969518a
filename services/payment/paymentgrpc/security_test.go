package paymentgrpc_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/payment/payment"
)

// TestCustomerCannotSetServerFields: every field of a payment request a customer (or a
// driver) may not set is refused with PERMISSION_DENIED, before anything is written or sent
// to the processor: another customer's id with reason FIELD_NOT_SETTABLE naming the field,
// and the fields only services and operators set (amounts, sub-statuses, settlement dates)
// with their RPCs (issue 11, finding 5).
func TestCustomerCannotSetServerFields(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	p := e.authorize(m.GetId(), eur(1000))
	driver := auth.Identity{Subject: "drv-1", Role: auth.RoleDriver}
	tokenize := e.sim.Calls("tokenize")
	keys := e.count("idempotency_keys")

	tests := []struct {
		field string
		who   auth.Identity
		// notSettable: refused naming the field (reason FIELD_NOT_SETTABLE); otherwise the
		// whole RPC is refused for the caller's role.
		notSettable bool
		call        func(c paymentv1.PaymentServiceClient) error
	}{
		{"customer_id", bob, true, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.CreatePaymentMethod(ctx, cardRequest(alice.Subject, "4242424242424242", "123", ""))
			return err
		}},
		{"customer_id", driver, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.CreatePaymentMethod(ctx, cardRequest(driver.Subject, "4242424242424242", "123", ""))
			return err
		}},
		{"amount", alice, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(1), RequestId: "x"})
			return err
		}},
		{"amount", alice, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), Amount: eur(1), RequestId: "x"})
			return err
		}},
		{"amount", alice, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: p.GetId(), Amount: eur(1), RequestId: "x"})
			return err
		}},
		{"sub_status", alice, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{PaymentId: p.GetId(), SubStatus: "refund_approved"})
			return err
		}},
		{"sub_status", driver, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{PaymentId: p.GetId(), SubStatus: "refund_approved"})
			return err
		}},
		{"settlement_date", alice, false, func(c paymentv1.PaymentServiceClient) error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(e.clock.Now().AddDate(0, 0, -1)), RequestId: "x"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.field+" by "+string(tc.who.Role), func(t *testing.T) {
			err := tc.call(e.as(tc.who))
			if !tc.notSettable {
				grpctest.WantCode(t, err, codes.PermissionDenied)
				return
			}
			info := grpctest.WantReason(t, err, codes.PermissionDenied, "FIELD_NOT_SETTABLE")
			if info.GetMetadata()["field"] != tc.field || !strings.Contains(status.Convert(err).Message(), tc.field) {
				t.Fatalf("%v (metadata %v) does not name %s", err, info.GetMetadata(), tc.field)
			}
		})
	}
	if got, err := e.svc().GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: p.GetId()}); err != nil ||
		got.GetPayment().GetVersion() != p.GetVersion() || got.GetPayment().GetSubStatus() != "" {
		t.Fatalf("a refused call changed the payment: %v, %v", got, err)
	}
	if n := e.sim.Calls("tokenize"); n != tokenize {
		t.Errorf("refused calls tokenized %d cards", n-tokenize)
	}
	if n := e.count("idempotency_keys"); n != keys {
		t.Errorf("refused calls recorded %d keys", n-keys)
	}
}

// TestProcessorTokensAreBoundAndMasked: a token the processor issued for one customer cannot
// be attached for another (refused exactly like a token it never issued), and no response
// shows a token in full, to customers or operators (issue 11, finding 6).
func TestProcessorTokensAreBoundAndMasked(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	created, err := e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, "4242424242424242", "123", ""))
	if err != nil {
		t.Fatal(err)
	}
	mine := created.GetPaymentMethod()
	var token string // alice's token, as if it leaked
	if err := e.pool.QueryRow(context.Background(), `SELECT processor_token FROM payment_method WHERE id = $1`, mine.GetId()).Scan(&token); err != nil {
		t.Fatal(err)
	}
	attach := func(as auth.Identity, customer, tok string) (*paymentv1.PaymentMethod, error) {
		resp, err := e.as(as).CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{
			CustomerId: customer, Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: tok}})
		return resp.GetPaymentMethod(), err
	}

	// Bob, and an operator or billing acting for bob, cannot attach alice's token; the
	// answer is the one for a token the processor never issued.
	_, unknown := attach(bob, bob.Subject, "tok_sim_never_issued")
	grpctest.WantField(t, unknown, "processor_token")
	for _, as := range []auth.Identity{bob, operator, billing} {
		_, err := attach(as, bob.Subject, token)
		grpctest.WantField(t, err, "processor_token")
		if grpctest.Reason(err) != grpctest.Reason(unknown) || status.Convert(err).Message() != status.Convert(unknown).Message() {
			t.Errorf("%s attaching another customer's token got %v, want the answer for an unknown token, %v", as.Role, err, unknown)
		}
	}
	if list, err := e.as(operator).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{CustomerId: bob.Subject}); err != nil || len(list.GetPaymentMethods()) != 0 {
		t.Fatalf("bob has methods %v, %v; want none", list, err)
	}

	// Alice may attach her own token again; the public test tokens anyone may attach.
	again, err := attach(alice, alice.Subject, token)
	if err != nil {
		t.Fatalf("alice attaching her own token: %v", err)
	}
	if _, err := attach(bob, bob.Subject, "tok_sim_visa"); err != nil {
		t.Fatalf("bob attaching a test token: %v", err)
	}

	// Every response masks the token to its last four characters.
	want := "****" + token[len(token)-4:]
	check := func(where string, m *paymentv1.PaymentMethod) {
		t.Helper()
		if m.GetProcessorToken() != want {
			t.Errorf("%s shows processor token %q, want %q", where, m.GetProcessorToken(), want)
		}
	}
	check("create", mine)
	check("attach", again)
	for _, as := range []auth.Identity{alice, operator, billing} {
		got, err := e.as(as).GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: mine.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		check("get for "+string(as.Role), got.GetPaymentMethod())
		list, err := e.as(as).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{CustomerId: alice.Subject})
		if err != nil || len(list.GetPaymentMethods()) != 2 {
			t.Fatalf("list for %s: %v, %v", as.Role, list, err)
		}
		for _, m := range list.GetPaymentMethods() {
			check("list for "+string(as.Role), m)
		}
	}
	disabled, err := e.as(operator).DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: mine.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	check("disable", disabled.GetPaymentMethod())
}

// TestOthersResourcesAreNotFound: another customer's payment method or payment is answered
// exactly like one that does not exist: the same code, reason and message but for the id
// (issue 11, finding 7).
func TestOthersResourcesAreNotFound(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa") // alice's
	p := e.authorize(m.GetId(), eur(1000))
	missing := payment.NewID()
	calls := []struct {
		name, id string
		call     func(id string) error
	}{
		{"GetPaymentMethod", m.GetId(), func(id string) error {
			_, err := e.as(bob).GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: id})
			return err
		}},
		{"DisablePaymentMethod", m.GetId(), func(id string) error {
			_, err := e.as(bob).DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: id})
			return err
		}},
		{"GetPayment", p.GetId(), func(id string) error {
			_, err := e.as(bob).GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: id})
			return err
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			other, absent := tc.call(tc.id), tc.call(missing)
			grpctest.WantCode(t, other, codes.NotFound)
			grpctest.WantCode(t, absent, codes.NotFound)
			a := strings.ReplaceAll(status.Convert(other).Message(), tc.id, "<id>")
			b := strings.ReplaceAll(status.Convert(absent).Message(), missing, "<id>")
			if a != b || grpctest.Reason(other) != grpctest.Reason(absent) {
				t.Errorf("another customer's: %v; a missing one: %v", other, absent)
			}
		})
	}
	if got, err := e.as(alice).GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: m.GetId()}); err != nil ||
		got.GetPaymentMethod().GetStatus() != paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE {
		t.Fatalf("alice's method changed: %v, %v", got, err)
	}
}

// TestIDsDatesAndAmountsAreBounded: ids must be UUIDs, settlement dates lie from 2000-01-01
// to tomorrow, amounts within money.MaxAmount and card expiries within 20 years; anything
// else is INVALID_ARGUMENT naming the field, and changes nothing (issue 11, finding 8).
func TestIDsDatesAndAmountsAreBounded(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	p := e.authorize(m.GetId(), eur(1000))
	const bad = "not-a-uuid"
	c := e.svc()
	now := e.clock.Now()
	year1 := &typev1.Date{Year: 1, Month: 1, Day: 1}
	tests := []struct {
		name, field string
		call        func() error
	}{
		{"GetPaymentMethod", "payment_method_id", func() error {
			_, err := c.GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: bad})
			return err
		}},
		{"DisablePaymentMethod", "payment_method_id", func() error {
			_, err := e.as(alice).DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: bad})
			return err
		}},
		{"AuthorizePayment method", "payment_method_id", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: bad, Amount: eur(1), RequestId: "a"})
			return err
		}},
		{"CapturePayment", "payment_id", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: bad, RequestId: "c"})
			return err
		}},
		{"VoidPayment", "payment_id", func() error {
			_, err := c.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: bad, RequestId: "v"})
			return err
		}},
		{"RefundPayment", "payment_id", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: bad, RequestId: "r"})
			return err
		}},
		{"GetPayment", "payment_id", func() error {
			_, err := e.as(alice).GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: bad})
			return err
		}},
		{"ReconcilePayment", "payment_id", func() error {
			_, err := c.ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{PaymentId: bad})
			return err
		}},
		{"SetPaymentSubStatus", "payment_id", func() error {
			_, err := c.SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{PaymentId: bad, SubStatus: "x"})
			return err
		}},
		{"GetSettlement", "settlement_id", func() error {
			_, err := c.GetSettlement(ctx, &paymentv1.GetSettlementRequest{SettlementId: bad})
			return err
		}},
		{"AuthorizePayment 2^63-1", "amount.amount_minor", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(math.MaxInt64), RequestId: "big"})
			return err
		}},
		{"CapturePayment above MaxAmount", "amount.amount_minor", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: p.GetId(), Amount: eur(money.MaxAmount + 1), RequestId: "big"})
			return err
		}},
		{"RunSettlement year 1", "settlement_date", func() error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: year1, RequestId: "settle-year-1"})
			return err
		}},
		{"RunSettlement before 2000", "settlement_date", func() error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: &typev1.Date{Year: 1999, Month: 12, Day: 31}, RequestId: "settle-1999"})
			return err
		}},
		{"ListSettlements from year 1", "start_date", func() error {
			_, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{StartDate: year1})
			return err
		}},
		{"ListSettlements until year 9999", "end_date", func() error {
			_, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{EndDate: &typev1.Date{Year: 9999, Month: 12, Day: 31}})
			return err
		}},
		{"ListSettlements after tomorrow", "end_date", func() error {
			_, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{EndDate: protoDate(now.AddDate(0, 0, 2))})
			return err
		}},
		{"CreatePaymentMethod expiry in 30 years", "card.expiry_year", func() error {
			req := cardRequest(alice.Subject, "4242424242424242", "123", "")
			req.GetCard().ExpiryYear = int32(now.Year() + 30)
			_, err := c.CreatePaymentMethod(ctx, req)
			return err
		}},
	}
	calls := e.sim.Calls("authorize") + e.sim.Calls("capture") + e.sim.Calls("tokenize") + e.sim.Calls("settle")
	rows := e.count("payment") + e.count("payment_method") + e.count("settlement") + e.count("idempotency_keys")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			grpctest.WantField(t, tc.call(), tc.field)
		})
	}
	if n := e.sim.Calls("authorize") + e.sim.Calls("capture") + e.sim.Calls("tokenize") + e.sim.Calls("settle"); n != calls {
		t.Errorf("bad input reached the processor %d times", n-calls)
	}
	if n := e.count("payment") + e.count("payment_method") + e.count("settlement") + e.count("idempotency_keys"); n != rows {
		t.Errorf("bad input wrote %d rows", n-rows)
	}
	// Tomorrow is still a date a list may end on (the settlement window of a day ends then).
	if _, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{StartDate: &typev1.Date{Year: 2000, Month: 1, Day: 1},
		EndDate: protoDate(now.AddDate(0, 0, 1))}); err != nil {
		t.Fatalf("list 2000-01-01 to tomorrow: %v", err)
	}
}
