package paymentgrpc

import (
	"context"

	"google.golang.org/protobuf/proto"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/services/payment/payment"
)

// opResponse is one of the four operation responses.
type opResponse interface {
	proto.Message
	*paymentv1.AuthorizePaymentResponse | *paymentv1.CapturePaymentResponse | *paymentv1.VoidPaymentResponse | *paymentv1.RefundPaymentResponse
}

// operationCall runs an idempotent money-moving call: the domain gets an encoder that stores
// the response the caller gets, and a replay is decoded from the stored bytes.
func operationCall[R opResponse](ctx context.Context, build func(payment.OperationResult) R,
	call func(payment.Encode[payment.OperationResult]) (payment.Reply[payment.OperationResult], error)) (R, error) {
	var zero R
	if err := requirePrivileged(ctx); err != nil {
		return zero, err
	}
	reply, err := call(func(res payment.OperationResult, err error) ([]byte, error) {
		if err != nil {
			return encodeReply(nil, err)
		}
		return encodeReply(build(res), nil)
	})
	if err != nil {
		return zero, toStatus(err)
	}
	if reply.Replay != nil {
		resp := zero.ProtoReflect().New().Interface().(R)
		if err := decodeReply(reply.Replay, resp); err != nil {
			return zero, err
		}
		return resp, nil
	}
	return build(reply.Value), nil
}

// AuthorizePayment holds an amount on a payment method.
func (s *Server) AuthorizePayment(ctx context.Context, req *paymentv1.AuthorizePaymentRequest) (*paymentv1.AuthorizePaymentResponse, error) {
	in := payment.AuthorizeInput{MethodID: req.GetPaymentMethodId(), Reference: req.GetReference(), RequestID: req.GetRequestId()}
	if m := moneyIn(req.GetAmount()); m != nil {
		in.Amount = *m
	}
	return operationCall(ctx, func(r payment.OperationResult) *paymentv1.AuthorizePaymentResponse {
		return &paymentv1.AuthorizePaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}
	}, func(enc payment.Encode[payment.OperationResult]) (payment.Reply[payment.OperationResult], error) {
		return s.svc.Authorize(ctx, in, enc)
	})
}

// CapturePayment captures all or part of an authorization.
func (s *Server) CapturePayment(ctx context.Context, req *paymentv1.CapturePaymentRequest) (*paymentv1.CapturePaymentResponse, error) {
	in := payment.CaptureInput{PaymentID: req.GetPaymentId(), Amount: moneyIn(req.GetAmount()), RequestID: req.GetRequestId()}
	return operationCall(ctx, func(r payment.OperationResult) *paymentv1.CapturePaymentResponse {
		return &paymentv1.CapturePaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}
	}, func(enc payment.Encode[payment.OperationResult]) (payment.Reply[payment.OperationResult], error) {
		return s.svc.Capture(ctx, in, enc)
	})
}

// VoidPayment releases the uncaptured authorized amount.
func (s *Server) VoidPayment(ctx context.Context, req *paymentv1.VoidPaymentRequest) (*paymentv1.VoidPaymentResponse, error) {
	in := payment.VoidInput{PaymentID: req.GetPaymentId(), Reason: req.GetReason(), RequestID: req.GetRequestId()}
	return operationCall(ctx, func(r payment.OperationResult) *paymentv1.VoidPaymentResponse {
		return &paymentv1.VoidPaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}
	}, func(enc payment.Encode[payment.OperationResult]) (payment.Reply[payment.OperationResult], error) {
		return s.svc.Void(ctx, in, enc)
	})
}

// RefundPayment returns captured money.
func (s *Server) RefundPayment(ctx context.Context, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	in := payment.RefundInput{PaymentID: req.GetPaymentId(), Amount: moneyIn(req.GetAmount()), Reason: req.GetReason(), RequestID: req.GetRequestId()}
	return operationCall(ctx, func(r payment.OperationResult) *paymentv1.RefundPaymentResponse {
		return &paymentv1.RefundPaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}
	}, func(enc payment.Encode[payment.OperationResult]) (payment.Reply[payment.OperationResult], error) {
		return s.svc.Refund(ctx, in, enc)
	})
}

// withTimeline reads a view: BASIC (the default) omits the timeline.
func withTimeline(v typev1.View) (bool, error) {
	switch v {
	case typev1.View_VIEW_UNSPECIFIED, typev1.View_VIEW_BASIC:
		return false, nil
	case typev1.View_VIEW_STANDARD, typev1.View_VIEW_FULL:
		return true, nil
	}
	return false, toStatus(&payment.FieldError{Field: "view", Description: "must be a defined view"})
}

// GetPayment returns one payment; another customer's is NOT_FOUND.
func (s *Server) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	id, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	timeline, err := withTimeline(req.GetView())
	if err != nil {
		return nil, err
	}
	p, err := s.svc.GetPayment(ctx, req.GetPaymentId(), timeline)
	if err != nil {
		return nil, toStatus(err)
	}
	if !id.MayAccess(p.CustomerID) {
		return nil, toStatus(payment.ErrNotFound)
	}
	return &paymentv1.GetPaymentResponse{Payment: paymentToProto(p, timeline)}, nil
}

// ListPayments lists payments, newest first.
func (s *Server) ListPayments(ctx context.Context, req *paymentv1.ListPaymentsRequest) (*paymentv1.ListPaymentsResponse, error) {
	customer, err := listCustomer(ctx, req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	timeline, err := withTimeline(req.GetView())
	if err != nil {
		return nil, err
	}
	f := payment.PaymentFilter{CustomerID: customer, Reference: req.GetReference()}
	for _, st := range req.GetStatuses() {
		d, ok := inverse(paymentStatuses, st)
		if !ok {
			return nil, toStatus(&payment.FieldError{Field: "statuses", Description: "must hold defined statuses"})
		}
		f.Statuses = append(f.Statuses, d)
	}
	ps, next, err := s.svc.ListPayments(ctx, f, payment.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()}, timeline)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &paymentv1.ListPaymentsResponse{NextPageToken: next, Payments: make([]*paymentv1.Payment, len(ps))}
	for i, p := range ps {
		resp.Payments[i] = paymentToProto(p, timeline)
	}
	return resp, nil
}

// ReconcilePayment asks the processor about a pending payment and applies the answer.
func (s *Server) ReconcilePayment(ctx context.Context, req *paymentv1.ReconcilePaymentRequest) (*paymentv1.ReconcilePaymentResponse, error) {
	if err := requirePrivileged(ctx); err != nil {
		return nil, err
	}
	p, resolved, err := s.svc.Reconcile(ctx, req.GetPaymentId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &paymentv1.ReconcilePaymentResponse{Payment: paymentToProto(p, true), Resolved: resolved}, nil
}

// SetPaymentSubStatus sets a payment's free-form sub-status.
func (s *Server) SetPaymentSubStatus(ctx context.Context, req *paymentv1.SetPaymentSubStatusRequest) (*paymentv1.SetPaymentSubStatusResponse, error) {
	if err := requirePrivileged(ctx); err != nil {
		return nil, err
	}
	p, err := s.svc.SetSubStatus(ctx, req.GetPaymentId(), req.GetSubStatus(), req.GetExpectedVersion())
	if err != nil {
		return nil, toStatus(err)
	}
	return &paymentv1.SetPaymentSubStatusResponse{Payment: paymentToProto(p, false)}, nil
}
