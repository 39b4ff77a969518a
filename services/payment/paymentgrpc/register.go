// Package paymentgrpc is the payment service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The payment service owns payment methods, authorize, capture, void, refund and settlement.
package paymentgrpc

import (
	"context"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the payment service's gRPC services on the server. The methods not
// implemented yet answer UNIMPLEMENTED (HTTP 501 through the gateway); README.md says
// which ones work.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	paymentv1.RegisterPaymentServiceServer(s, paymentv1.UnimplementedPaymentServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	return nil
}
