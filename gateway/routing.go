package gateway

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
)

// The shared contracts (EventStreamService, ConsumerAdminService,
// ReservationProviderService) are implemented by several services. Their REST paths name
// the service ("/v1/events/booking:subscribe"), and these clients send each call to the
// service it names.

// router picks a backend connection by service name.
type router map[string]*grpc.ClientConn

// pick returns the named service's connection, or InvalidArgument naming field.
func (r router) pick(field, name string) (*grpc.ClientConn, error) {
	if conn, ok := r[name]; ok {
		return conn, nil
	}
	known := make([]string, 0, len(r))
	for n := range r {
		known = append(known, n)
	}
	sort.Strings(known)
	desc := fmt.Sprintf("unknown service %q; want one of %s", name, strings.Join(known, ", "))
	st := status.New(codes.InvalidArgument, field+": "+desc)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: desc}}}); err == nil {
		st = d
	}
	return nil, st.Err()
}

type routedEvents struct{ r router }

func (c routedEvents) Subscribe(ctx context.Context, in *eventsv1.SubscribeRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[eventsv1.SubscribeResponse], error) {
	conn, err := c.r.pick("service", in.GetService())
	if err != nil {
		return nil, err
	}
	return eventsv1.NewEventStreamServiceClient(conn).Subscribe(ctx, in, opts...)
}

type routedAdmin struct{ r router }

func (c routedAdmin) ListParkedEvents(ctx context.Context, in *eventsv1.ListParkedEventsRequest, opts ...grpc.CallOption) (*eventsv1.ListParkedEventsResponse, error) {
	conn, err := c.r.pick("service", in.GetService())
	if err != nil {
		return nil, err
	}
	return eventsv1.NewConsumerAdminServiceClient(conn).ListParkedEvents(ctx, in, opts...)
}

func (c routedAdmin) ReplayParkedEvents(ctx context.Context, in *eventsv1.ReplayParkedEventsRequest, opts ...grpc.CallOption) (*eventsv1.ReplayParkedEventsResponse, error) {
	conn, err := c.r.pick("service", in.GetService())
	if err != nil {
		return nil, err
	}
	return eventsv1.NewConsumerAdminServiceClient(conn).ReplayParkedEvents(ctx, in, opts...)
}

func (c routedAdmin) DiscardParkedEvents(ctx context.Context, in *eventsv1.DiscardParkedEventsRequest, opts ...grpc.CallOption) (*eventsv1.DiscardParkedEventsResponse, error) {
	conn, err := c.r.pick("service", in.GetService())
	if err != nil {
		return nil, err
	}
	return eventsv1.NewConsumerAdminServiceClient(conn).DiscardParkedEvents(ctx, in, opts...)
}

type routedProvider struct{ r router }

func (c routedProvider) client(provider string) (reservationv1.ReservationProviderServiceClient, error) {
	conn, err := c.r.pick("provider", provider)
	if err != nil {
		return nil, err
	}
	return reservationv1.NewReservationProviderServiceClient(conn), nil
}

func (c routedProvider) GetReservationDetails(ctx context.Context, in *reservationv1.GetReservationDetailsRequest, opts ...grpc.CallOption) (*reservationv1.GetReservationDetailsResponse, error) {
	cl, err := c.client(in.GetProvider())
	if err != nil {
		return nil, err
	}
	return cl.GetReservationDetails(ctx, in, opts...)
}

func (c routedProvider) ConfirmReservations(ctx context.Context, in *reservationv1.ConfirmReservationsRequest, opts ...grpc.CallOption) (*reservationv1.ConfirmReservationsResponse, error) {
	cl, err := c.client(in.GetProvider())
	if err != nil {
		return nil, err
	}
	return cl.ConfirmReservations(ctx, in, opts...)
}

func (c routedProvider) CancelReservations(ctx context.Context, in *reservationv1.CancelReservationsRequest, opts ...grpc.CallOption) (*reservationv1.CancelReservationsResponse, error) {
	cl, err := c.client(in.GetProvider())
	if err != nil {
		return nil, err
	}
	return cl.CancelReservations(ctx, in, opts...)
}
