// Package tripgrpc is the trip service's gRPC transport. The trip service owns the ride
// lifecycle and the record of what actually happened; it is a skeleton so far: every method
// answers UNIMPLEMENTED.
package tripgrpc

import (
	"context"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the trip service's gRPC services on the server. Every method answers
// UNIMPLEMENTED (HTTP 501 through the gateway), as the repository's README.md says.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	tripv1.RegisterTripServiceServer(s, tripv1.UnimplementedTripServiceServer{})
	reservationv1.RegisterReservationProviderServiceServer(s, reservationv1.UnimplementedReservationProviderServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	return nil
}
