package bookinggrpc_test

import (
	"testing"
	"time"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestReservationRoundTrips: a seat hold makes three round trips to booking's database
// (the departure read; BEGIN with the hold's writes and the key's claim; the outbox
// insert with COMMIT), and its confirmation three (BEGIN with the locked read and the
// key's claim; the writes; the outbox insert with COMMIT), with and without request ids.
// Both commit their events. A stay's hold makes five.
func TestReservationRoundTrips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	const (
		holdMethod    = bookingv1.ReservationService_CreateReservation_FullMethodName
		confirmMethod = bookingv1.ReservationService_ConfirmReservation_FullMethodName
	)
	for _, requestID := range []string{"", "trips-1"} {
		e.queries.take(holdMethod)
		req := seatHold(d.GetId(), 1)
		req.RequestId = requestID
		r := e.hold(t, req)
		if n := e.queries.take(holdMethod); n != 3 {
			t.Errorf("hold (request id %q) made %d round trips, want 3", requestID, n)
		}
		e.queries.take(confirmMethod)
		_, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId(), RequestId: requestID})
		if err != nil {
			t.Fatal(err)
		}
		if n := e.queries.take(confirmMethod); n != 3 {
			t.Errorf("confirmation (request id %q) made %d round trips, want 3", requestID, n)
		}
	}
	var held, confirmed int
	err := e.pool.QueryRow(grpctest.Context(t), `
		SELECT count(*) FILTER (WHERE type = 'booking.reservation.held'),
			count(*) FILTER (WHERE type = 'booking.reservation.confirmed')
		FROM (SELECT type FROM outbox UNION ALL SELECT type FROM event_log) e`).Scan(&held, &confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if held != 2 || confirmed != 2 {
		t.Errorf("%d held and %d confirmed events committed, want 2 and 2", held, confirmed)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsSold() != 2 || fc.GetSeatsHeld() != 0 {
		t.Errorf("counters %v, want 2 sold", fc)
	}

	// A stay's hold: the property and its room types, the nights' availability; BEGIN
	// with the hold's writes (the nights' counters included) and the key's claim; the
	// outbox insert with COMMIT.
	p := e.createProperty(t, property(3))
	for _, requestID := range []string{"", "trips-stay"} {
		e.queries.take(holdMethod)
		req := stayHold(p.GetId(), 1, 2, 4)
		req.RequestId = requestID
		e.hold(t, req)
		if n := e.queries.take(holdMethod); n != 5 {
			t.Errorf("stay hold (request id %q) made %d round trips, want 5", requestID, n)
		}
	}
}
