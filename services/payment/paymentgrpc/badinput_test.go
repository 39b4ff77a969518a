package paymentgrpc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/money"
)

// Bad input on every RPC gets INVALID_ARGUMENT naming the field and changes nothing: not the
// database, not the processor.
func TestBadInputOnEveryRPC(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	m := e.method("tok_sim_visa")
	p := e.authorize(m.GetId(), eur(1000))
	captured := e.authorize(m.GetId(), eur(500))
	e.capture(captured.GetId(), nil)
	pid, cid, mid := p.GetId(), captured.GetId(), m.GetId()
	today := protoDate(e.clock.Now())

	card := func(f func(*paymentv1.CardInput)) *paymentv1.CreatePaymentMethodRequest {
		c := &paymentv1.CardInput{Number: "4242424242424242", ExpiryMonth: 12, ExpiryYear: 2040, Cvc: "123"}
		f(c)
		return &paymentv1.CreatePaymentMethodRequest{CustomerId: alice.Subject, Source: &paymentv1.CreatePaymentMethodRequest_Card{Card: c}, RequestId: "bad"}
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	c := e.svc()
	tests := []struct {
		name  string
		field string
		call  func() error
	}{
		{"create: no customer", "customer_id", func() error {
			_, err := e.as(alice).CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{Source: card(func(*paymentv1.CardInput) {}).Source})
			return err
		}},
		{"create: no source", "source", func() error {
			_, err := c.CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{CustomerId: alice.Subject})
			return err
		}},
		{"create: short number", "card.number", func() error {
			_, err := c.CreatePaymentMethod(ctx, card(func(c *paymentv1.CardInput) { c.Number = "4242" }))
			return err
		}},
		{"create: luhn", "card.number", func() error {
			_, err := c.CreatePaymentMethod(ctx, card(func(c *paymentv1.CardInput) { c.Number = "4242424242424243" }))
			return err
		}},
		{"create: empty card", "card.number", func() error {
			_, err := c.CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{CustomerId: alice.Subject, Source: &paymentv1.CreatePaymentMethodRequest_Card{}})
			return err
		}},
		{"create: month", "card.expiry_month", func() error {
			_, err := c.CreatePaymentMethod(ctx, card(func(c *paymentv1.CardInput) { c.ExpiryMonth = 13 }))
			return err
		}},
		{"create: past expiry", "card.expiry_year", func() error {
			_, err := c.CreatePaymentMethod(ctx, card(func(c *paymentv1.CardInput) { c.ExpiryYear = 2001 }))
			return err
		}},
		{"create: cvc", "card.cvc", func() error {
			_, err := c.CreatePaymentMethod(ctx, card(func(c *paymentv1.CardInput) { c.Cvc = "1" }))
			return err
		}},
		{"create: name", "card.cardholder_name", func() error {
			_, err := c.CreatePaymentMethod(ctx, card(func(c *paymentv1.CardInput) { c.CardholderName = long(101) }))
			return err
		}},
		{"create: empty token", "processor_token", func() error {
			_, err := c.CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{CustomerId: alice.Subject, Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{}})
			return err
		}},
		{"create: long token", "processor_token", func() error {
			_, err := c.CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{CustomerId: alice.Subject, Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: long(256)}})
			return err
		}},
		{"create: long request id", "request_id", func() error {
			r := card(func(*paymentv1.CardInput) {})
			r.RequestId = long(129)
			_, err := c.CreatePaymentMethod(ctx, r)
			return err
		}},
		{"get method: empty id", "payment_method_id", func() error {
			_, err := c.GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{})
			return err
		}},
		{"list methods: page size", "page_size", func() error {
			_, err := c.ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{PageSize: -1})
			return err
		}},
		{"list methods: page token", "page_token", func() error {
			_, err := c.ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{PageToken: "garbage"})
			return err
		}},
		{"list methods: status", "statuses", func() error {
			_, err := c.ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{Statuses: []paymentv1.PaymentMethodStatus{42}})
			return err
		}},
		{"disable: empty id", "payment_method_id", func() error {
			_, err := c.DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{})
			return err
		}},
		{"authorize: empty method", "payment_method_id", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{Amount: eur(1), RequestId: "a"})
			return err
		}},
		{"authorize: zero", "amount.amount_minor", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: eur(0), RequestId: "a"})
			return err
		}},
		{"authorize: negative", "amount.amount_minor", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: eur(-5), RequestId: "a"})
			return err
		}},
		{"authorize: unknown currency", "amount.currency_code", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: &typev1.Money{AmountMinor: 5, CurrencyCode: "XYZ"}, RequestId: "a"})
			return err
		}},
		{"authorize: ZZZ", "amount.currency_code", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: &typev1.Money{AmountMinor: 5, CurrencyCode: "ZZZ"}, RequestId: "a"})
			return err
		}},
		{"authorize: above MaxAmount", "amount.amount_minor", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: eur(money.MaxAmount + 1), RequestId: "a"})
			return err
		}},
		{"authorize: lower-case currency", "amount.currency_code", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: &typev1.Money{AmountMinor: 5, CurrencyCode: "eur"}, RequestId: "a"})
			return err
		}},
		{"authorize: no amount", "amount.currency_code", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, RequestId: "a"})
			return err
		}},
		{"authorize: no request id", "request_id", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: eur(5)})
			return err
		}},
		{"authorize: long reference", "reference", func() error {
			_, err := c.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: mid, Amount: eur(5), Reference: long(129), RequestId: "a"})
			return err
		}},
		{"capture: empty id", "payment_id", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{RequestId: "c"})
			return err
		}},
		{"capture: zero", "amount.amount_minor", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: eur(0), RequestId: "c"})
			return err
		}},
		{"capture: negative", "amount.amount_minor", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: eur(-1), RequestId: "c"})
			return err
		}},
		{"capture: ZZZ", "amount.currency_code", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: &typev1.Money{AmountMinor: 10, CurrencyCode: "ZZZ"}, RequestId: "c"})
			return err
		}},
		{"capture: above MaxAmount", "amount.amount_minor", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: eur(money.MaxAmount + 1), RequestId: "c"})
			return err
		}},
		{"capture: other currency", "amount.currency_code", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid, Amount: usd(10), RequestId: "c"})
			return err
		}},
		{"capture: no request id", "request_id", func() error {
			_, err := c.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: pid})
			return err
		}},
		{"void: empty id", "payment_id", func() error {
			_, err := c.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{RequestId: "v"})
			return err
		}},
		{"void: long reason", "reason", func() error {
			_, err := c.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: pid, Reason: long(501), RequestId: "v"})
			return err
		}},
		{"void: no request id", "request_id", func() error {
			_, err := c.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: pid})
			return err
		}},
		{"refund: empty id", "payment_id", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{RequestId: "r"})
			return err
		}},
		{"refund: negative", "amount.amount_minor", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Amount: eur(-100), RequestId: "r"})
			return err
		}},
		{"refund: other currency", "amount.currency_code", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Amount: usd(100), RequestId: "r"})
			return err
		}},
		{"refund: ZZZ", "amount.currency_code", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Amount: &typev1.Money{AmountMinor: 1, CurrencyCode: "ZZZ"}, RequestId: "r"})
			return err
		}},
		{"refund: above MaxAmount", "amount.amount_minor", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Amount: eur(money.MaxAmount + 1), RequestId: "r"})
			return err
		}},
		{"refund: unknown currency", "amount.currency_code", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Amount: &typev1.Money{AmountMinor: 1, CurrencyCode: "EU"}, RequestId: "r"})
			return err
		}},
		{"refund: long reason", "reason", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Reason: long(501), RequestId: "r"})
			return err
		}},
		{"refund: no request id", "request_id", func() error {
			_, err := c.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: cid, Amount: eur(1)})
			return err
		}},
		{"get payment: empty id", "payment_id", func() error {
			_, err := c.GetPayment(ctx, &paymentv1.GetPaymentRequest{})
			return err
		}},
		{"get payment: view", "view", func() error {
			_, err := c.GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: pid, View: 9})
			return err
		}},
		{"list payments: page size", "page_size", func() error {
			_, err := c.ListPayments(ctx, &paymentv1.ListPaymentsRequest{PageSize: -3})
			return err
		}},
		{"list payments: page token", "page_token", func() error {
			_, err := c.ListPayments(ctx, &paymentv1.ListPaymentsRequest{PageToken: "e30"})
			return err
		}},
		{"reconcile: empty id", "payment_id", func() error {
			_, err := c.ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{})
			return err
		}},
		{"sub-status: empty id", "payment_id", func() error {
			_, err := c.SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{SubStatus: "x"})
			return err
		}},
		{"sub-status: too long", "sub_status", func() error {
			_, err := c.SetPaymentSubStatus(ctx, &paymentv1.SetPaymentSubStatusRequest{PaymentId: pid, SubStatus: long(65)})
			return err
		}},
		{"settle: no date", "settlement_date", func() error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{RequestId: "s"})
			return err
		}},
		{"settle: invalid date", "settlement_date", func() error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: &typev1.Date{Year: 2024, Month: 2, Day: 30}, RequestId: "s"})
			return err
		}},
		{"settle: today", "settlement_date", func() error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: today, RequestId: "s"})
			return err
		}},
		{"settle: no request id", "request_id", func() error {
			_, err := c.RunSettlement(ctx, &paymentv1.RunSettlementRequest{SettlementDate: protoDate(e.clock.Now().AddDate(0, 0, -1))})
			return err
		}},
		{"get settlement: empty id", "settlement_id", func() error {
			_, err := c.GetSettlement(ctx, &paymentv1.GetSettlementRequest{})
			return err
		}},
		{"list settlements: order", "end_date", func() error {
			_, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{StartDate: today, EndDate: protoDate(e.clock.Now().Add(-48 * time.Hour))})
			return err
		}},
		{"list settlements: invalid date", "start_date", func() error {
			_, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{StartDate: &typev1.Date{Year: 2024, Month: 13, Day: 1}})
			return err
		}},
		{"list settlements: page size", "page_size", func() error {
			_, err := c.ListSettlements(ctx, &paymentv1.ListSettlementsRequest{PageSize: -1})
			return err
		}},
	}
	before := e.stateText()
	calls := e.processorCalls()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grpctest.WantField(t, tt.call(), tt.field)
		})
	}
	if after := e.stateText(); after != before {
		t.Fatal("bad input changed the database")
	}
	if e.processorCalls() != calls {
		t.Fatal("bad input reached the processor")
	}
}

// stateText is the service's state: every table but the outbox's, which the sequencer
// rewrites in the background, plus the events written so far.
func (e *env) stateText() string {
	e.t.Helper()
	return e.tablesText("outbox", "event_log", "event_log_head") + fmt.Sprintf("%d events", len(e.events()))
}

// processorCalls sums the simulator's calls of every kind.
func (e *env) processorCalls() int {
	n := 0
	for _, k := range []string{"tokenize", "describe_token", "delete_token", "authorize", "capture", "void", "refund", "lookup", "settle"} {
		n += e.sim.Calls(k)
	}
	return n
}
