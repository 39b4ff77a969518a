// Package tripgrpc is the trip service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The trip service owns the ride lifecycle and the record of what actually happened.
package tripgrpc

import (
	"context"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the trip service's gRPC services on the server. The methods not
// implemented yet answer UNIMPLEMENTED (HTTP 501 through the gateway); README.md says
// which ones work.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	tripv1.RegisterTripServiceServer(s, tripv1.UnimplementedTripServiceServer{})
	reservationv1.RegisterReservationProviderServiceServer(s, reservationv1.UnimplementedReservationProviderServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	return nil
}
