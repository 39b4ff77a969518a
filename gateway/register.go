package gateway

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
)

// handlers lists, per service, the generated REST handlers of the APIs it alone serves.
var handlers = map[string][]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
	"booking":  {bookingv1.RegisterInventoryServiceHandler, bookingv1.RegisterReservationServiceHandler},
	"matching": {matchingv1.RegisterMatchingServiceHandler},
	"trip":     {tripv1.RegisterTripServiceHandler},
	"fare":     {farev1.RegisterFareServiceHandler},
	"billing":  {billingv1.RegisterBillingServiceHandler},
	"payment":  {paymentv1.RegisterPaymentServiceHandler},
	"account":  {accountv1.RegisterAccountServiceHandler},

	"analytics":    {analyticsv1.RegisterAnalyticsServiceHandler},
	"notification": {notificationv1.RegisterNotificationServiceHandler},
}

// register adds every service's REST routes to mux: each service's own APIs on its
// connection, and the shared contracts through clients that route by the service named
// in the path.
func register(ctx context.Context, mux *runtime.ServeMux, conns map[string]*grpc.ClientConn) error {
	for name, regs := range handlers {
		conn, ok := conns[name]
		if !ok {
			return fmt.Errorf("gateway: no address configured for service %q", name)
		}
		for _, reg := range regs {
			if err := reg(ctx, mux, conn); err != nil {
				return fmt.Errorf("register %s handlers: %w", name, err)
			}
		}
	}
	r := router(conns)
	if err := eventsv1.RegisterEventStreamServiceHandlerClient(ctx, mux, routedEvents{r}); err != nil {
		return err
	}
	if err := eventsv1.RegisterConsumerAdminServiceHandlerClient(ctx, mux, routedAdmin{r}); err != nil {
		return err
	}
	return reservationv1.RegisterReservationProviderServiceHandlerClient(ctx, mux, routedProvider{r})
}
