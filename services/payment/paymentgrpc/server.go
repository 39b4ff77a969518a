// Package paymentgrpc is the payment service's gRPC transport: handlers that convert the
// request, call the domain with the caller and convert back. Domain errors go back as they
// are; kit/grpcserver's interceptor turns them into statuses (kit/grpcerr, domain
// "payment.waybill.dev"). The payment service owns payment methods, authorize, capture,
// void, refund and settlement; package paymentapp wires it.
package paymentgrpc

import (
	"context"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/services/payment/payment"
)

// Server implements paymentv1.PaymentServiceServer on the domain service: each handler
// converts the request, calls the domain with the caller and converts back.
type Server struct {
	paymentv1.UnimplementedPaymentServiceServer
	svc *payment.Service
}

// New returns a Server calling svc.
func New(svc *payment.Service) *Server { return &Server{svc: svc} }

// callerOf returns the call's verified caller; the zero (anonymous) caller when the call
// carried no token, which the domain refuses where it must.
func callerOf(ctx context.Context) caller.Caller {
	id, _ := auth.FromContext(ctx)
	return id
}
