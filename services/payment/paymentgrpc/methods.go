package paymentgrpc

import (
	"context"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/payment/payment"
)

// CreatePaymentMethod tokenizes a card, or registers a processor token, for a customer.
func (s *Server) CreatePaymentMethod(ctx context.Context, req *paymentv1.CreatePaymentMethodRequest) (*paymentv1.CreatePaymentMethodResponse, error) {
	in := payment.CreateMethodInput{CustomerID: req.GetCustomerId(), RequestID: req.GetRequestId()}
	switch src := req.GetSource().(type) {
	case *paymentv1.CreatePaymentMethodRequest_Card:
		in.Card = cardIn(src.Card)
		if in.Card == nil {
			in.Card = &payment.Card{}
		}
	case *paymentv1.CreatePaymentMethodRequest_ProcessorToken:
		if src.ProcessorToken == "" {
			return nil, errs.Invalid("processor_token", "must not be empty")
		}
		in.Token = src.ProcessorToken
	}
	m, err := s.svc.CreateMethod(ctx, callerOf(ctx), in)
	if err != nil {
		return nil, err
	}
	return &paymentv1.CreatePaymentMethodResponse{PaymentMethod: methodToProto(m)}, nil
}

// GetPaymentMethod returns one payment method.
func (s *Server) GetPaymentMethod(ctx context.Context, req *paymentv1.GetPaymentMethodRequest) (*paymentv1.GetPaymentMethodResponse, error) {
	m, err := s.svc.GetMethod(ctx, callerOf(ctx), req.GetPaymentMethodId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.GetPaymentMethodResponse{PaymentMethod: methodToProto(m)}, nil
}

// ListPaymentMethods lists payment methods, newest first.
func (s *Server) ListPaymentMethods(ctx context.Context, req *paymentv1.ListPaymentMethodsRequest) (*paymentv1.ListPaymentMethodsResponse, error) {
	f := payment.MethodFilter{CustomerID: req.GetCustomerId()}
	for _, st := range req.GetStatuses() {
		d, ok := inverse(methodStatuses, st)
		if !ok {
			return nil, errs.Invalid("statuses", "must hold defined statuses")
		}
		f.Statuses = append(f.Statuses, d)
	}
	ms, next, err := s.svc.ListMethods(ctx, callerOf(ctx), f, payment.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &paymentv1.ListPaymentMethodsResponse{NextPageToken: next, PaymentMethods: make([]*paymentv1.PaymentMethod, len(ms))}
	for i, m := range ms {
		resp.PaymentMethods[i] = methodToProto(m)
	}
	return resp, nil
}

// DisablePaymentMethod disables a payment method; disabling it again returns it unchanged.
func (s *Server) DisablePaymentMethod(ctx context.Context, req *paymentv1.DisablePaymentMethodRequest) (*paymentv1.DisablePaymentMethodResponse, error) {
	m, err := s.svc.DisableMethod(ctx, callerOf(ctx), req.GetPaymentMethodId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.DisablePaymentMethodResponse{PaymentMethod: methodToProto(m)}, nil
}
