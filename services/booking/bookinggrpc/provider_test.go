package bookinggrpc_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/booking/booking"
)

const detailsMethod = "/waybill.reservation.v1.ReservationProviderService/GetReservationDetails"

// TestBatchDetails: 500 ids in one query, in request order, found or not found per id
// (another customer's reservation is not found); more than 500, or a malformed id, is
// INVALID_ARGUMENT.
func TestBatchDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 100))
	p := e.createProperty(t, property(10))
	mine := []string{e.hold(t, seatHold(d.GetId(), 2)).GetId(), e.hold(t, stayHold(p.GetId(), 1, 3, 5)).GetId()}
	theirs, err := e.cust2.CreateReservation(grpctest.Context(t), seatHold(d.GetId(), 1))
	if err != nil {
		t.Fatal(err)
	}

	ids := make([]string, 0, booking.MaxDetailsBatch)
	ids = append(ids, mine[0], theirs.GetReservation().GetId(), mine[1], booking.NewID(), mine[0])
	for len(ids) < booking.MaxDetailsBatch {
		ids = append(ids, booking.NewID())
	}
	e.queries.take(detailsMethod)
	resp, err := e.provCust.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Provider: "booking", Ids: ids, View: typev1.View_VIEW_FULL})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.queries.take(detailsMethod); n != 1 {
		t.Fatalf("a batch of %d ids ran %d queries, want 1", len(ids), n)
	}
	res := resp.GetResults()
	if len(res) != len(ids) {
		t.Fatalf("%d results for %d ids", len(res), len(ids))
	}
	want := []reservationv1.ReservationResult_Status{
		reservationv1.ReservationResult_STATUS_FOUND, reservationv1.ReservationResult_STATUS_NOT_FOUND,
		reservationv1.ReservationResult_STATUS_FOUND, reservationv1.ReservationResult_STATUS_NOT_FOUND,
		reservationv1.ReservationResult_STATUS_FOUND,
	}
	for i, r := range res {
		w := reservationv1.ReservationResult_STATUS_NOT_FOUND
		if i < len(want) {
			w = want[i]
		}
		if r.GetId() != ids[i] || r.GetStatus() != w || (r.GetDetails() != nil) != (w == reservationv1.ReservationResult_STATUS_FOUND) {
			t.Fatalf("result %d = %v, want id %s status %v", i, r, ids[i], w)
		}
	}
	seat := res[0].GetDetails()
	if seat.GetKind() != reservationv1.Kind_KIND_FLIGHT || seat.GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_PENDING ||
		seat.GetSeat().GetSeatCount() != 2 || len(seat.GetSeat().GetPassengerNames()) != 2 || seat.GetTitle() != "LH 400 FRA → JFK" ||
		seat.GetAmount().GetAmountMinor() != 20000 || len(seat.GetTimeline()) != 1 || seat.GetCustomerId() != customer1 {
		t.Fatalf("seat details = %v", seat)
	}
	if stay := res[2].GetDetails(); stay.GetKind() != reservationv1.Kind_KIND_STAY || stay.GetStay().GetRoomType() != "double" || stay.GetStay().GetRoomCount() != 1 {
		t.Fatalf("stay details = %v", stay)
	}

	// BASIC: the envelope only. Operators see every customer's reservations.
	basic, err := e.provOps.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Ids: ids[:3], View: typev1.View_VIEW_BASIC})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range basic.GetResults() {
		if r.GetStatus() != reservationv1.ReservationResult_STATUS_FOUND || r.GetDetails().GetKindDetails() != nil || r.GetDetails().GetTimeline() != nil || r.GetDetails().GetTitle() == "" {
			t.Fatalf("basic result %d = %v", i, r)
		}
	}

	// Limits and bad input.
	over := append(append([]string{}, ids...), booking.NewID())
	_, err = e.provOps.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Ids: over})
	grpctest.WantField(t, err, "ids")
	_, err = e.provOps.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{})
	grpctest.WantField(t, err, "ids")
	_, err = e.provOps.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Ids: []string{mine[0], ""}})
	grpctest.WantField(t, err, "ids[1]")
	_, err = e.provOps.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Ids: []string{mine[0], "not-a-uuid"}})
	grpctest.WantField(t, err, "ids[1]")
	_, err = e.provOps.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Provider: "trip", Ids: ids[:1]})
	grpctest.WantField(t, err, "provider")
	_, err = e.provAnon.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Ids: ids[:1]})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	if n := e.queries.take(detailsMethod); n != 1 {
		t.Fatalf("the operator's batch and the rejected ones ran %d queries, want 1", n)
	}
}

// BenchmarkReservationDetails measures GetReservationDetails for 1, 50 and 500 ids.
func BenchmarkReservationDetails(b *testing.B) {
	e := newEnv(b)
	e.routeCard(b)
	d := e.createDeparture(b, departure(72*time.Hour, 10000))
	ids := make([]string, 0, 500)
	for len(ids) < 500 {
		req := seatHold(d.GetId(), 1)
		req.Reservation.CustomerId = "bench"
		resp, err := e.svc.CreateReservation(grpctest.Context(b), req)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, resp.GetReservation().GetId())
	}
	for _, n := range []int{1, 50, 500} {
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			req := &reservationv1.GetReservationDetailsRequest{Ids: ids[:n], View: typev1.View_VIEW_FULL}
			for b.Loop() {
				if _, err := e.provOps.GetReservationDetails(grpctest.Context(b), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
