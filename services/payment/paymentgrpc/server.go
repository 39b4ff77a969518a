package paymentgrpc

import (
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/services/payment/payment"
)

// Server implements paymentv1.PaymentServiceServer on the domain service: each handler
// checks the caller, converts the request, calls the domain and converts back.
type Server struct {
	paymentv1.UnimplementedPaymentServiceServer
	svc *payment.Service
}

// New returns a Server calling svc.
func New(svc *payment.Service) *Server { return &Server{svc: svc} }
