// Package billinggrpc is the billing service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The billing service owns bills across providers, the operator panel's read model and the pay saga.
package billinggrpc

import (
	"context"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the billing service's gRPC services on the server. The methods not
// implemented yet answer UNIMPLEMENTED (HTTP 501 through the gateway); README.md says
// which ones work.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	billingv1.RegisterBillingServiceServer(s, billingv1.UnimplementedBillingServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	eventsv1.RegisterConsumerAdminServiceServer(s, eventsv1.UnimplementedConsumerAdminServiceServer{})
	return nil
}
