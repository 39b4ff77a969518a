// Package paymentclient is billing's adapter to the payment service: the calls of the
// pay saga (authorize, capture, void, refund, reconcile, and the payment method check of
// PayBill), each with the saga's request id, with the payment service's errors re-kinded
// to what they mean to billing (a callee's INVALID_ARGUMENT is not billing's caller's
// fault, so it never reaches the caller as one); and the reading of the payment
// service's events that settle bills.
package paymentclient

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/billing/billing"
)

// idempotent lists the methods retried on UNAVAILABLE: reads, and mutations that carry
// a request id.
var idempotent = []string{
	"/waybill.payment.v1.PaymentService/GetPaymentMethod",
	"/waybill.payment.v1.PaymentService/GetPayment",
	"/waybill.payment.v1.PaymentService/ReconcilePayment",
	"/waybill.payment.v1.PaymentService/AuthorizePayment",
	"/waybill.payment.v1.PaymentService/CapturePayment",
	"/waybill.payment.v1.PaymentService/VoidPayment",
	"/waybill.payment.v1.PaymentService/RefundPayment",
}

// Client calls the payment service; it implements billing.Payments.
type Client struct {
	conn *grpc.ClientConn
	api  paymentv1.PaymentServiceClient
}

var _ billing.Payments = (*Client)(nil)

// Dial connects (lazily) to the payment service at addr; extra carries billing's
// credentials.
func Dial(addr string, extra ...grpc.DialOption) (*Client, error) {
	conn, err := grpcclient.Dial(addr, grpcclient.Options{Timeout: 10 * time.Second, Idempotent: idempotent}, extra...)
	if err != nil {
		return nil, fmt.Errorf("payment service %s: %w", addr, err)
	}
	return &Client{conn: conn, api: paymentv1.NewPaymentServiceClient(conn)}, nil
}

// Conn returns the connection, for the payment service's event stream.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// PaymentMethod implements billing.Payments.
func (c *Client) PaymentMethod(ctx context.Context, id string) (billing.PaymentMethod, error) {
	resp, err := c.api.GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: id})
	if err != nil {
		e := grpcerr.FromStatus(err)
		if errs.KindOf(e) == errs.InvalidArgument {
			// An id the payment service cannot even parse names no method.
			return billing.PaymentMethod{}, errs.Missing(billing.ReasonPaymentMethodNotFound, "payment method %s not found", id).WithCause(err)
		}
		return billing.PaymentMethod{}, rekind("get payment method", e, err)
	}
	m := resp.GetPaymentMethod()
	return billing.PaymentMethod{
		ID: m.GetId(), CustomerID: m.GetCustomerId(), Active: m.GetStatus() == paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE,
		ExpiryMonth: int(m.GetExpiryMonth()), ExpiryYear: int(m.GetExpiryYear()),
	}, nil
}

// Authorize implements billing.Payments.
func (c *Client) Authorize(ctx context.Context, methodID string, amount money.Money, reference, requestID string) (billing.Payment, error) {
	resp, err := c.api.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{
		PaymentMethodId: methodID, Amount: moneyOf(amount), Reference: reference, RequestId: requestID,
	})
	if err != nil {
		return billing.Payment{}, mapError("authorize payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

// Capture implements billing.Payments.
func (c *Client) Capture(ctx context.Context, paymentID string, amount money.Money, requestID string) (billing.Payment, error) {
	resp, err := c.api.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: paymentID, Amount: moneyOf(amount), RequestId: requestID})
	if err != nil {
		return billing.Payment{}, mapError("capture payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

// Void implements billing.Payments.
func (c *Client) Void(ctx context.Context, paymentID, reason, requestID string) (billing.Payment, error) {
	resp, err := c.api.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{PaymentId: paymentID, Reason: reason, RequestId: requestID})
	if err != nil {
		return billing.Payment{}, mapError("void payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

// Refund implements billing.Payments: it refunds everything not yet refunded.
func (c *Client) Refund(ctx context.Context, paymentID, reason, requestID string) (billing.Payment, error) {
	resp, err := c.api.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: paymentID, Reason: reason, RequestId: requestID})
	if err != nil {
		return billing.Payment{}, mapError("refund payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

// Payment implements billing.Payments.
func (c *Client) Payment(ctx context.Context, id string) (billing.Payment, error) {
	resp, err := c.api.GetPayment(ctx, &paymentv1.GetPaymentRequest{PaymentId: id})
	if err != nil {
		return billing.Payment{}, mapError("get payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

// Reconcile implements billing.Payments.
func (c *Client) Reconcile(ctx context.Context, id string) (billing.Payment, error) {
	resp, err := c.api.ReconcilePayment(ctx, &paymentv1.ReconcilePaymentRequest{PaymentId: id})
	if err != nil {
		return billing.Payment{}, mapError("reconcile payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

func moneyOf(m money.Money) *typev1.Money {
	return &typev1.Money{AmountMinor: m.Amount, CurrencyCode: m.Currency}
}

// paymentOf converts the payment service's payment.
func paymentOf(p *paymentv1.Payment) billing.Payment {
	out := billing.Payment{
		ID: p.GetId(), Status: billing.PaymentStatus(p.GetStatus()), DeclineCode: p.GetDeclineCode(),
		FailureMessage: p.GetFailureMessage(),
	}
	if m := p.GetCapturedAmount(); m != nil {
		out.Captured = money.Money{Amount: m.GetAmountMinor(), Currency: m.GetCurrencyCode()}
	}
	if t := p.GetSettleTime(); t != nil {
		out.SettleTime = t.AsTime().UTC()
	}
	return out
}

// ReasonPaymentRefused is the reason of a call the payment service refused for good for
// a reason billing's caller cannot fix (an argument it found invalid, a permission
// billing lacks); the error has no kind, so a caller sees INTERNAL.
const ReasonPaymentRefused = "PAYMENT_REFUSED"

// ErrRefused matches, with errors.Is, a call the payment service refused for good.
var ErrRefused error = &errs.Error{Kind: errs.Unknown, Reason: ReasonPaymentRefused}

// mapError re-kinds the payment service's error (grpcerr.FromStatus) to what it means to
// billing: what a retry with the same request id may fix is UNAVAILABLE,
// PAYMENT_UNAVAILABLE (including ABORTED: a request still in progress, a busy payment);
// NOT_FOUND and FAILED_PRECONDITION keep their meaning with the payment service's reason;
// anything else is a refusal that will not change (ErrRefused).
func mapError(op string, err error) error { return rekind(op, grpcerr.FromStatus(err), err) }

// rekind is mapError of from, the *errs.Error grpcerr.FromStatus made of err.
func rekind(op string, from, err error) error {
	e, ok := errs.As(from)
	if !ok { // a context error, or no status at all
		return fmt.Errorf("payment service: %s: %w", op, from)
	}
	msg := fmt.Sprintf("payment service: %s: %s", op, e.Message)
	switch e.Kind {
	case errs.Unavailable, errs.Aborted, errs.ResourceExhausted:
		return errs.Unreachable(billing.ReasonPaymentUnavailable, "%s", msg).WithCause(err)
	case errs.NotFound:
		return errs.Missing(cmp.Or(e.Reason, "PAYMENT_NOT_FOUND"), "%s", msg).WithCause(err)
	case errs.FailedPrecondition:
		return errs.Precondition(cmp.Or(e.Reason, "PAYMENT_FAILED_PRECONDITION"), "%s", msg).WithCause(err)
	}
	return &errs.Error{Kind: errs.Unknown, Reason: ReasonPaymentRefused,
		Message: fmt.Sprintf("%s (refused: %s)", msg, e.Kind), Err: err}
}
