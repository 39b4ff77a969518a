package bookinggrpc_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/booking/booking"
)

// TestEventsThroughSubscribe: a reservation's changes reach subscribers in order, with
// the full reservation and the previous status as payload.
func TestEventsThroughSubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	r := e.hold(t, seatHold(d.GetId(), 1))
	if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: r.GetId()}); err != nil {
		t.Fatal(err)
	}
	stream, err := e.stream.Subscribe(grpctest.Context(t), &eventsv1.SubscribeRequest{
		Types: []string{booking.EventHeld, booking.EventConfirmed, booking.EventCancelled},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ  string
		prev bookingv1.ReservationStatus
		now  bookingv1.ReservationStatus
	}{
		{booking.EventHeld, bookingv1.ReservationStatus_RESERVATION_STATUS_UNSPECIFIED, bookingv1.ReservationStatus_RESERVATION_STATUS_HELD},
		{booking.EventConfirmed, bookingv1.ReservationStatus_RESERVATION_STATUS_HELD, bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED},
		{booking.EventCancelled, bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED, bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED},
	}
	for i := 0; i < len(want); {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		ev := msg.GetEvent()
		if ev == nil {
			continue // a heartbeat
		}
		var payload bookingv1.ReservationEvent
		if err := ev.GetPayload().UnmarshalTo(&payload); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if ev.GetType() != w.typ || ev.GetKey() != r.GetId() || payload.GetPreviousStatus() != w.prev ||
			payload.GetReservation().GetStatus() != w.now || len(payload.GetReservation().GetHistory()) != i+1 {
			t.Fatalf("event %d = %s %s %v, want %s", i, ev.GetType(), ev.GetKey(), &payload, w.typ)
		}
		i++
	}
	bad, err := e.stream.Subscribe(grpctest.Context(t), &eventsv1.SubscribeRequest{Types: []string{"booking.nope"}})
	if err == nil {
		_, err = bad.Recv()
	}
	grpctest.WantCode(t, err, codes.InvalidArgument)
}
