// Package bookinggrpc is the booking service's gRPC transport: handlers that convert the
// request, call the domain (booking.Service) and convert the answer back. It constructs
// nothing and translates no errors: handlers return the domain's kit/errs errors, which
// kit/grpcserver's interceptor turns into statuses with ErrorInfo domain
// "booking.waybill.dev". bookingapp wires it to the domain.
package bookinggrpc

import (
	"google.golang.org/grpc"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/services/booking/booking"
)

// Register registers booking's gRPC services on r, answering with svc: the
// InventoryService, the ReservationService, and the ReservationProviderService that
// billing calls.
func Register(r grpc.ServiceRegistrar, svc *booking.Service) {
	bookingv1.RegisterInventoryServiceServer(r, &inventoryServer{svc: svc})
	bookingv1.RegisterReservationServiceServer(r, &reservationServer{svc: svc})
	reservationv1.RegisterReservationProviderServiceServer(r, &providerServer{svc: svc})
}
