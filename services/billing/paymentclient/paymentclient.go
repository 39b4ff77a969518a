// Package paymentclient is billing's outbound adapter to the payment service: the calls
// of the pay saga (authorize, capture, void, refund, reconcile, and the payment method
// check of PayBill), each with the saga's request id, and the mapping of the payment
// service's codes back to billing's own errors. A callee's INVALID_ARGUMENT is not
// billing's caller's fault, so it never reaches the caller as one.
package paymentclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/services/billing/billing"
)

// DefaultAddr is the payment service's address in the local mesh.
const DefaultAddr = "127.0.0.1:7006"

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
	if status.Code(err) == codes.InvalidArgument {
		// An id the payment service cannot even parse names no method.
		return billing.PaymentMethod{}, &billing.ReasonError{Kind: billing.ErrNotFound, Reason: "PAYMENT_METHOD_NOT_FOUND", Message: "payment method not found"}
	}
	if err != nil {
		return billing.PaymentMethod{}, mapError("get payment method", err)
	}
	m := resp.GetPaymentMethod()
	return billing.PaymentMethod{
		ID: m.GetId(), CustomerID: m.GetCustomerId(), Active: m.GetStatus() == paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE,
		ExpiryMonth: int(m.GetExpiryMonth()), ExpiryYear: int(m.GetExpiryYear()),
	}, nil
}

// Authorize implements billing.Payments.
func (c *Client) Authorize(ctx context.Context, methodID string, amount billing.Money, reference, requestID string) (billing.Payment, error) {
	resp, err := c.api.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{
		PaymentMethodId: methodID, Amount: money(amount), Reference: reference, RequestId: requestID,
	})
	if err != nil {
		return billing.Payment{}, mapError("authorize payment", err)
	}
	return paymentOf(resp.GetPayment()), nil
}

// Capture implements billing.Payments.
func (c *Client) Capture(ctx context.Context, paymentID string, amount billing.Money, requestID string) (billing.Payment, error) {
	resp, err := c.api.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: paymentID, Amount: money(amount), RequestId: requestID})
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

func money(m billing.Money) *typev1.Money {
	return &typev1.Money{AmountMinor: m.Minor, CurrencyCode: m.Currency}
}

// paymentOf converts the payment service's payment.
func paymentOf(p *paymentv1.Payment) billing.Payment {
	out := billing.Payment{
		ID: p.GetId(), Status: billing.PaymentStatus(p.GetStatus()), DeclineCode: p.GetDeclineCode(),
		FailureMessage: p.GetFailureMessage(),
	}
	if m := p.GetCapturedAmount(); m != nil {
		out.Captured = billing.Money{Minor: m.GetAmountMinor(), Currency: m.GetCurrencyCode()}
	}
	if t := p.GetSettleTime(); t != nil {
		out.SettleTime = t.AsTime().UTC()
	}
	return out
}

// mapError maps the payment service's status to billing's errors: what a retry with the
// same request id may fix is billing.ErrUnavailable (including ABORTED: a request still
// in progress, a busy payment); NOT_FOUND and FAILED_PRECONDITION keep their meaning with
// the payment service's reason; anything else is a refusal that will not change.
func mapError(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	reason := ""
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			reason = ei.GetReason()
		}
	}
	msg := fmt.Sprintf("payment service: %s: %s", op, st.Message())
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Internal, codes.Unknown:
		return &billing.ReasonError{Kind: billing.ErrUnavailable, Reason: "PAYMENT_UNAVAILABLE", Message: msg}
	case codes.Canceled:
		return fmt.Errorf("%s: %w", msg, context.Canceled)
	case codes.NotFound:
		return &billing.ReasonError{Kind: billing.ErrNotFound, Reason: cmp.Or(reason, "PAYMENT_NOT_FOUND"), Message: msg}
	case codes.FailedPrecondition:
		return &billing.ReasonError{Kind: billing.ErrFailedPrecondition, Reason: cmp.Or(reason, "PAYMENT_FAILED_PRECONDITION"), Message: msg}
	}
	return fmt.Errorf("%s (%s): %w", msg, st.Code(), errRefused)
}

// errRefused marks a request the payment service refused for good.
var errRefused = errors.New("refused by the payment service")
