// Package bookinggrpc is the booking service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The booking service owns inventory-based reservations: departures, properties, holds, confirm, cancel, check-in/out.
package bookinggrpc

import (
	"context"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/serve"
)

// Register registers the booking service's gRPC services on the server. The methods not
// implemented yet answer UNIMPLEMENTED (HTTP 501 through the gateway); README.md says
// which ones work.
func Register(_ context.Context, d serve.Deps) error {
	s := d.Server.GRPC
	bookingv1.RegisterInventoryServiceServer(s, bookingv1.UnimplementedInventoryServiceServer{})
	bookingv1.RegisterReservationServiceServer(s, bookingv1.UnimplementedReservationServiceServer{})
	reservationv1.RegisterReservationProviderServiceServer(s, reservationv1.UnimplementedReservationProviderServiceServer{})
	eventsv1.RegisterEventStreamServiceServer(s, eventsv1.UnimplementedEventStreamServiceServer{})
	return nil
}
