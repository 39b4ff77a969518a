// Package faregrpc is the fare service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The fare service owns rate cards, dynamic pricing, quotes and ride fares.
package faregrpc

import (
	"context"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the fare service's gRPC services on the server. The methods not
// implemented yet answer UNIMPLEMENTED (HTTP 501 through the gateway); README.md says
// which ones work.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	farev1.RegisterFareServiceServer(s, farev1.UnimplementedFareServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	eventsv1.RegisterConsumerAdminServiceServer(s, eventsv1.UnimplementedConsumerAdminServiceServer{})
	return nil
}
