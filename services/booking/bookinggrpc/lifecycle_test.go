package bookinggrpc_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/booking/booking"
)

// TestCancelRefundsPolicyAmount: a confirmed reservation three days ahead gets the 50 %
// rule; the quote and the cancellation agree; a retry never refunds twice.
func TestCancelRefundsPolicyAmount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	r := e.hold(t, seatHold(d.GetId(), 3)) // 300.00 EUR
	if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()}); err != nil {
		t.Fatal(err)
	}
	q, err := e.cust.GetCancellationQuote(grpctest.Context(t), &bookingv1.GetCancellationQuoteRequest{ReservationId: r.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(q.GetRefundableAmount(), eur(15000)) || !proto.Equal(q.GetCancellationFee(), eur(15000)) ||
		q.GetAppliedRule().GetRefundBps() != 5000 {
		t.Fatalf("quote = %v", q)
	}
	if want := d.GetDepartureTime().AsTime().Add(-24 * time.Hour); !q.GetValidUntil().AsTime().Equal(want) {
		t.Errorf("quote valid until %v, want %v", q.GetValidUntil().AsTime(), want)
	}
	req := &bookingv1.CancelReservationRequest{ReservationId: r.GetId(), Reason: "plans changed", RequestId: "cancel-1"}
	c, err := e.cust.CancelReservation(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	got := c.GetReservation()
	if !proto.Equal(c.GetRefundableAmount(), eur(15000)) || got.GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED ||
		!proto.Equal(got.GetCancellation().GetCancellationFee(), eur(15000)) || got.GetCancellation().GetActor() != customer1 ||
		got.GetCancellation().GetReason() != "plans changed" {
		t.Fatalf("cancel = %v", c)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsSold() != 0 || fc.GetSeatsAvailable() != 10 {
		t.Fatalf("seats not released: %v", fc)
	}
	// The same request id returns the first result; another one is a wrong state.
	again, err := e.cust.CancelReservation(grpctest.Context(t), req)
	if err != nil || !proto.Equal(again.GetRefundableAmount(), eur(15000)) || again.GetReservation().GetVersion() != got.GetVersion() {
		t.Fatalf("retry = %v, %v", again, err)
	}
	_, err = e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: r.GetId(), RequestId: "cancel-2"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonInvalidTransition)
	if n := e.events(t, booking.EventCancelled); n != 1 {
		t.Fatalf("%d cancelled events", n)
	}
	// A held reservation is cancelled free of charge.
	h := e.hold(t, seatHold(d.GetId(), 1))
	c, err = e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: h.GetId()})
	if err != nil || !proto.Equal(c.GetRefundableAmount(), eur(10000)) {
		t.Fatalf("cancel held = %v, %v", c, err)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 0 {
		t.Fatalf("held = %d", fc.GetSeatsHeld())
	}
}

// TestIdempotentCreate: the same request id, sequentially and concurrently, holds once.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	req := seatHold(d.GetId(), 2)
	req.RequestId = "hold-once"
	first := e.hold(t, req)

	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range ids {
		wg.Go(func() {
			resp, err := e.cust.CreateReservation(grpctest.Context(t), proto.Clone(req).(*bookingv1.CreateReservationRequest))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = resp.GetReservation().GetId()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != first.GetId() {
			t.Fatalf("retry returned %s, want %s", id, first.GetId())
		}
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 2 {
		t.Fatalf("held %d seats, want 2", fc.GetSeatsHeld())
	}
	if n := e.count(t, "SELECT count(*) FROM reservation"); n != 1 {
		t.Fatalf("%d reservations", n)
	}
	// Concurrent first calls with a new key: one reservation.
	req.RequestId = "hold-race"
	var mu sync.Mutex
	seen := map[string]bool{}
	for range 8 {
		wg.Go(func() {
			resp, err := e.cust.CreateReservation(grpctest.Context(t), proto.Clone(req).(*bookingv1.CreateReservationRequest))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[resp.GetReservation().GetId()] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != 1 {
		t.Fatalf("racing creates made %d reservations", len(seen))
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 4 {
		t.Fatalf("held %d seats, want 4", fc.GetSeatsHeld())
	}
	// Another customer's same request id is their own.
	other, err := e.cust2.CreateReservation(grpctest.Context(t), req)
	if err != nil || seen[other.GetReservation().GetId()] {
		t.Fatalf("another customer's key = %v, %v", other, err)
	}
}

// TestStayLifecycle: hold, confirm, check in, check out; counters follow.
func TestStayLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createProperty(t, property(3))
	req := stayHold(p.GetId(), 2, 0, 2) // tonight and tomorrow
	req.Reservation.GetStay().GuestCount = 3
	r := e.hold(t, req)
	if !proto.Equal(r.GetPrice(), eur(9000*2*2)) || r.GetStay().GetNights() != 2 || r.GetKind() != 4 {
		t.Fatalf("stay hold = %v", r)
	}
	if _, err := e.cust.CheckInReservation(grpctest.Context(t), &bookingv1.CheckInReservationRequest{ReservationId: r.GetId()}); codes.FailedPrecondition != status.Code(err) {
		t.Fatalf("check in a held stay = %v", err)
	}
	if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()}); err != nil {
		t.Fatal(err)
	}
	// Check-in opens at 15:00 local on the check-in date: move the clock there.
	start := r.GetServicePeriod().GetStartTime().AsTime()
	if now := e.clock.Now(); now.Before(start) {
		e.clock.Advance(start.Sub(now) + time.Minute)
	}
	ci, err := e.cust.CheckInReservation(grpctest.Context(t), &bookingv1.CheckInReservationRequest{ReservationId: r.GetId()})
	if err != nil || ci.GetReservation().GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_CHECKED_IN {
		t.Fatalf("check in = %v, %v", ci, err)
	}
	if _, err := e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: r.GetId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cancel checked in = %v", err)
	}
	co, err := e.cust.CheckOutReservation(grpctest.Context(t), &bookingv1.CheckOutReservationRequest{ReservationId: r.GetId()})
	if err != nil || co.GetReservation().GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_COMPLETED {
		t.Fatalf("check out = %v, %v", co, err)
	}
	if n := e.count(t, "SELECT count(*) FROM room_night WHERE sold = 2 AND held = 0"); n != 2 {
		t.Fatalf("%d nights sold", n)
	}
	for _, typ := range []string{booking.EventHeld, booking.EventConfirmed, booking.EventCheckedIn, booking.EventCheckedOut} {
		if n := e.events(t, typ); n != 1 {
			t.Errorf("%s events = %d", typ, n)
		}
	}
}

// TestCompletionSweep: seats complete at arrival; a confirmed stay never checked in
// completes as a no-show.
func TestCompletionSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(3*time.Hour, 10))
	seat := e.hold(t, seatHold(d.GetId(), 1))
	p := e.createProperty(t, property(3))
	stay := e.hold(t, stayHold(p.GetId(), 1, 1, 2))
	for _, id := range []string{seat.GetId(), stay.GetId()} {
		if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: id}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.b.Service.CompleteEnded(grpctest.Context(t), e.clock.Now().Add(72*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("completed %d, %v", n, err)
	}
	got, _ := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: stay.GetId()})
	if got.GetReservation().GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_COMPLETED || got.GetReservation().GetSubStatus() != booking.SubStatusNoShow {
		t.Fatalf("stay = %v", got.GetReservation())
	}
	if n := e.events(t, booking.EventCompleted); n != 2 {
		t.Fatalf("%d completed events", n)
	}
}

// TestSubStatusUpdateAndAccess: sub-status and travellers change with modified events;
// customers see and change only their own reservations.
func TestSubStatusUpdateAndAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	r := e.hold(t, seatHold(d.GetId(), 2))

	s, err := e.cust.SetReservationSubStatus(grpctest.Context(t), &bookingv1.SetReservationSubStatusRequest{ReservationId: r.GetId(), SubStatus: "seat_selected"})
	if err != nil || s.GetReservation().GetSubStatus() != "seat_selected" || s.GetReservation().GetStatus() != r.GetStatus() {
		t.Fatalf("set sub-status = %v, %v", s, err)
	}
	u, err := e.cust.UpdateReservation(grpctest.Context(t), &bookingv1.UpdateReservationRequest{
		Reservation: &bookingv1.Reservation{Id: r.GetId(), Travelers: []*bookingv1.Traveler{{FullName: "Ada"}, {FullName: "Bob"}}},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"travelers"}},
	})
	if err != nil || u.GetReservation().GetTravelers()[0].GetFullName() != "Ada" {
		t.Fatalf("update = %v, %v", u, err)
	}
	_, err = e.cust.UpdateReservation(grpctest.Context(t), &bookingv1.UpdateReservationRequest{
		Reservation: &bookingv1.Reservation{Id: r.GetId(), Version: 1, Travelers: travelers(2)},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"travelers"}},
	})
	grpctest.WantCode(t, err, codes.Aborted)
	if n := e.events(t, booking.EventModified); n != 2 {
		t.Fatalf("%d modified events", n)
	}

	// Another customer: reads and changes are NOT_FOUND (TestOthersReservationsAreNotFound
	// checks every method), lists their own.
	_, err = e.cust2.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.cust2.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: r.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.cust2.GetCancellationQuote(grpctest.Context(t), &bookingv1.GetCancellationQuoteRequest{ReservationId: r.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = e.cust2.ListReservations(grpctest.Context(t), &bookingv1.ListReservationsRequest{CustomerId: customer1})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	l, err := e.cust2.ListReservations(grpctest.Context(t), &bookingv1.ListReservationsRequest{})
	if err != nil || len(l.GetReservations()) != 0 {
		t.Fatalf("customer 2 list = %v, %v", l, err)
	}
	_, err = e.anon.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId()})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	req := seatHold(d.GetId(), 1)
	req.Reservation.CustomerId = customer1
	_, err = e.cust2.CreateReservation(grpctest.Context(t), req)
	grpctest.WantCode(t, err, codes.PermissionDenied)

	// Lists page newest first; operators see everyone.
	for i := range 4 {
		q := seatHold(d.GetId(), 1)
		q.Reservation.CustomerId = fmt.Sprintf("c%d", i)
		if _, err := e.ops.CreateReservation(grpctest.Context(t), q); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	token := ""
	for {
		page, err := e.ops.ListReservations(grpctest.Context(t), &bookingv1.ListReservationsRequest{PageSize: 2, PageToken: token, View: typev1.View_VIEW_FULL})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.GetReservations() {
			all = append(all, r.GetId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(all) != 5 || all[4] != r.GetId() {
		t.Fatalf("operator pages = %v, want 5 ending with the oldest %s", all, r.GetId())
	}
	mine, err := e.cust.ListReservations(grpctest.Context(t), &bookingv1.ListReservationsRequest{})
	if err != nil || len(mine.GetReservations()) != 1 {
		t.Fatalf("customer 1 list = %v, %v", mine, err)
	}
}

// TestRetriesAnswerTheFirstResult: a hold retried after its departure sold out, and a
// confirmation retried, return the first result and change nothing; a confirmation's
// request id used for another reservation is invalid, and holds nothing locked.
func TestRetriesAnswerTheFirstResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 3))
	req := seatHold(d.GetId(), 2)
	req.RequestId = "hold-before-sellout"
	first := e.hold(t, req)
	other := e.hold(t, seatHold(d.GetId(), 1)) // sold out now
	again, err := e.cust.CreateReservation(grpctest.Context(t), req)
	if err != nil || again.GetReservation().GetId() != first.GetId() {
		t.Fatalf("retry after the sellout = %v, %v; want reservation %s", again, err, first.GetId())
	}
	_, err = e.cust.CreateReservation(grpctest.Context(t), seatHold(d.GetId(), 1))
	grpctest.WantCode(t, err, codes.ResourceExhausted, codes.FailedPrecondition)

	confirm := &bookingv1.ConfirmReservationRequest{ReservationId: first.GetId(), RequestId: "confirm-1"}
	c1, err := e.cust.ConfirmReservation(grpctest.Context(t), confirm)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.cust.ConfirmReservation(grpctest.Context(t), confirm)
	if err != nil || c2.GetReservation().GetVersion() != c1.GetReservation().GetVersion() {
		t.Fatalf("confirm retry = %v, %v; want version %d", c2, err, c1.GetReservation().GetVersion())
	}
	_, err = e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: other.GetId(), RequestId: "confirm-1"})
	grpctest.WantCode(t, err, codes.InvalidArgument)
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsSold() != 2 || fc.GetSeatsHeld() != 1 {
		t.Fatalf("counters after retries: sold %d held %d, want 2 and 1", fc.GetSeatsSold(), fc.GetSeatsHeld())
	}
	if n := e.events(t, booking.EventConfirmed); n != 1 {
		t.Fatalf("%d confirmed events, want 1", n)
	}
	// The other reservation was not locked by the refused call: it confirms at once.
	if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: other.GetId(), RequestId: "confirm-2"}); err != nil {
		t.Fatal(err)
	}
}
