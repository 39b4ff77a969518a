package paymentgrpc

import (
	"context"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/payment/payment"
)

// AuthorizePayment holds an amount on a payment method.
func (s *Server) AuthorizePayment(ctx context.Context, req *paymentv1.AuthorizePaymentRequest) (*paymentv1.AuthorizePaymentResponse, error) {
	in := payment.AuthorizeInput{MethodID: req.GetPaymentMethodId(), Reference: req.GetReference(), RequestID: req.GetRequestId()}
	if m := moneyIn(req.GetAmount()); m != nil {
		in.Amount = *m
	}
	r, err := s.svc.Authorize(ctx, callerOf(ctx), in)
	if err != nil {
		return nil, err
	}
	return &paymentv1.AuthorizePaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}, nil
}

// CapturePayment captures all or part of an authorization.
func (s *Server) CapturePayment(ctx context.Context, req *paymentv1.CapturePaymentRequest) (*paymentv1.CapturePaymentResponse, error) {
	in := payment.CaptureInput{PaymentID: req.GetPaymentId(), Amount: moneyIn(req.GetAmount()), RequestID: req.GetRequestId()}
	r, err := s.svc.Capture(ctx, callerOf(ctx), in)
	if err != nil {
		return nil, err
	}
	return &paymentv1.CapturePaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}, nil
}

// VoidPayment releases the uncaptured authorized amount.
func (s *Server) VoidPayment(ctx context.Context, req *paymentv1.VoidPaymentRequest) (*paymentv1.VoidPaymentResponse, error) {
	in := payment.VoidInput{PaymentID: req.GetPaymentId(), Reason: req.GetReason(), RequestID: req.GetRequestId()}
	r, err := s.svc.Void(ctx, callerOf(ctx), in)
	if err != nil {
		return nil, err
	}
	return &paymentv1.VoidPaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}, nil
}

// RefundPayment returns captured money.
func (s *Server) RefundPayment(ctx context.Context, req *paymentv1.RefundPaymentRequest) (*paymentv1.RefundPaymentResponse, error) {
	in := payment.RefundInput{PaymentID: req.GetPaymentId(), Amount: moneyIn(req.GetAmount()), Reason: req.GetReason(), RequestID: req.GetRequestId()}
	r, err := s.svc.Refund(ctx, callerOf(ctx), in)
	if err != nil {
		return nil, err
	}
	return &paymentv1.RefundPaymentResponse{Payment: paymentToProto(r.Payment, true), Operation: operationToProto(r.Operation)}, nil
}

// withTimeline reads a view: BASIC (the default) omits the timeline.
func withTimeline(v typev1.View) (bool, error) {
	switch v {
	case typev1.View_VIEW_UNSPECIFIED, typev1.View_VIEW_BASIC:
		return false, nil
	case typev1.View_VIEW_STANDARD, typev1.View_VIEW_FULL:
		return true, nil
	}
	return false, errs.Invalid("view", "must be a defined view")
}

// GetPayment returns one payment; another customer's is NOT_FOUND.
func (s *Server) GetPayment(ctx context.Context, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, error) {
	timeline, err := withTimeline(req.GetView())
	if err != nil {
		return nil, err
	}
	p, err := s.svc.GetPayment(ctx, callerOf(ctx), req.GetPaymentId(), timeline)
	if err != nil {
		return nil, err
	}
	return &paymentv1.GetPaymentResponse{Payment: paymentToProto(p, timeline)}, nil
}

// ListPayments lists payments, newest first.
func (s *Server) ListPayments(ctx context.Context, req *paymentv1.ListPaymentsRequest) (*paymentv1.ListPaymentsResponse, error) {
	timeline, err := withTimeline(req.GetView())
	if err != nil {
		return nil, err
	}
	f := payment.PaymentFilter{CustomerID: req.GetCustomerId(), Reference: req.GetReference()}
	for _, st := range req.GetStatuses() {
		d, ok := inverse(paymentStatuses, st)
		if !ok {
			return nil, errs.Invalid("statuses", "must hold defined statuses")
		}
		f.Statuses = append(f.Statuses, d)
	}
	ps, next, err := s.svc.ListPayments(ctx, callerOf(ctx), f, payment.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()}, timeline)
	if err != nil {
		return nil, err
	}
	resp := &paymentv1.ListPaymentsResponse{NextPageToken: next, Payments: make([]*paymentv1.Payment, len(ps))}
	for i, p := range ps {
		resp.Payments[i] = paymentToProto(p, timeline)
	}
	return resp, nil
}

// ReconcilePayment asks the processor about a pending payment and applies the answer.
func (s *Server) ReconcilePayment(ctx context.Context, req *paymentv1.ReconcilePaymentRequest) (*paymentv1.ReconcilePaymentResponse, error) {
	p, resolved, err := s.svc.Reconcile(ctx, callerOf(ctx), req.GetPaymentId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.ReconcilePaymentResponse{Payment: paymentToProto(p, true), Resolved: resolved}, nil
}

// SetPaymentSubStatus sets a payment's free-form sub-status.
func (s *Server) SetPaymentSubStatus(ctx context.Context, req *paymentv1.SetPaymentSubStatusRequest) (*paymentv1.SetPaymentSubStatusResponse, error) {
	p, err := s.svc.SetSubStatus(ctx, callerOf(ctx), req.GetPaymentId(), req.GetSubStatus(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return &paymentv1.SetPaymentSubStatusResponse{Payment: paymentToProto(p, false)}, nil
}
