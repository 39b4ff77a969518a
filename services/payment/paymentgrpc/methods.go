package paymentgrpc

import (
	"context"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/services/payment/payment"
)

// CreatePaymentMethod tokenizes a card, or registers a processor token, for a customer.
func (s *Server) CreatePaymentMethod(ctx context.Context, req *paymentv1.CreatePaymentMethodRequest) (*paymentv1.CreatePaymentMethodResponse, error) {
	id, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !id.Privileged() && (id.Role != auth.RoleCustomer || (req.GetCustomerId() != "" && req.GetCustomerId() != id.Subject)) {
		return nil, permissionDenied("customers may only add payment methods for themselves")
	}
	in := payment.CreateMethodInput{CustomerID: req.GetCustomerId(), RequestID: req.GetRequestId()}
	switch src := req.GetSource().(type) {
	case *paymentv1.CreatePaymentMethodRequest_Card:
		in.Card = cardIn(src.Card)
		if in.Card == nil {
			in.Card = &payment.Card{}
		}
	case *paymentv1.CreatePaymentMethodRequest_ProcessorToken:
		if src.ProcessorToken == "" {
			return nil, toStatus(&payment.FieldError{Field: "processor_token", Description: "must not be empty"})
		}
		in.Token = src.ProcessorToken
	}
	showToken := id.Privileged()
	reply, err := s.svc.CreateMethod(ctx, in, func(m payment.PaymentMethod, err error) ([]byte, error) {
		if err != nil {
			return encodeReply(nil, err)
		}
		return encodeReply(&paymentv1.CreatePaymentMethodResponse{PaymentMethod: methodToProto(m, showToken)}, nil)
	})
	if err != nil {
		return nil, toStatus(err)
	}
	if reply.Replay != nil {
		resp := &paymentv1.CreatePaymentMethodResponse{}
		if err := decodeReply(reply.Replay, resp); err != nil {
			return nil, err
		}
		if !showToken && resp.GetPaymentMethod() != nil {
			resp.PaymentMethod.ProcessorToken = ""
		}
		return resp, nil
	}
	return &paymentv1.CreatePaymentMethodResponse{PaymentMethod: methodToProto(reply.Value, showToken)}, nil
}

// visibleMethod reads a method the caller may see; another customer's is NOT_FOUND.
func (s *Server) visibleMethod(ctx context.Context, methodID string) (payment.PaymentMethod, auth.Identity, error) {
	id, err := auth.Require(ctx)
	if err != nil {
		return payment.PaymentMethod{}, id, err
	}
	m, err := s.svc.GetMethod(ctx, methodID)
	if err != nil {
		return m, id, toStatus(err)
	}
	if !id.MayAccess(m.CustomerID) {
		return m, id, toStatus(payment.ErrNotFound)
	}
	return m, id, nil
}

// GetPaymentMethod returns one payment method.
func (s *Server) GetPaymentMethod(ctx context.Context, req *paymentv1.GetPaymentMethodRequest) (*paymentv1.GetPaymentMethodResponse, error) {
	m, id, err := s.visibleMethod(ctx, req.GetPaymentMethodId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.GetPaymentMethodResponse{PaymentMethod: methodToProto(m, id.Privileged())}, nil
}

// ListPaymentMethods lists payment methods, newest first.
func (s *Server) ListPaymentMethods(ctx context.Context, req *paymentv1.ListPaymentMethodsRequest) (*paymentv1.ListPaymentMethodsResponse, error) {
	customer, err := listCustomer(ctx, req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	id, _ := auth.FromContext(ctx)
	f := payment.MethodFilter{CustomerID: customer}
	for _, st := range req.GetStatuses() {
		d, ok := inverse(methodStatuses, st)
		if !ok {
			return nil, toStatus(&payment.FieldError{Field: "statuses", Description: "must hold defined statuses"})
		}
		f.Statuses = append(f.Statuses, d)
	}
	ms, next, err := s.svc.ListMethods(ctx, f, payment.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &paymentv1.ListPaymentMethodsResponse{NextPageToken: next, PaymentMethods: make([]*paymentv1.PaymentMethod, len(ms))}
	for i, m := range ms {
		resp.PaymentMethods[i] = methodToProto(m, id.Privileged())
	}
	return resp, nil
}

// DisablePaymentMethod disables a payment method; disabling it again returns it unchanged.
func (s *Server) DisablePaymentMethod(ctx context.Context, req *paymentv1.DisablePaymentMethodRequest) (*paymentv1.DisablePaymentMethodResponse, error) {
	_, id, err := s.visibleMethod(ctx, req.GetPaymentMethodId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.DisableMethod(ctx, req.GetPaymentMethodId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &paymentv1.DisablePaymentMethodResponse{PaymentMethod: methodToProto(m, id.Privileged())}, nil
}
