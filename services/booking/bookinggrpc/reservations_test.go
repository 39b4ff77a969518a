package bookinggrpc_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/booking/booking"
)

func TestHoldConfirmLocksPriceAndRateVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	card := e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))

	r := e.hold(t, seatHold(d.GetId(), 2))
	if r.GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_HELD || r.GetCustomerId() != customer1 {
		t.Fatalf("hold = %v", r)
	}
	if !proto.Equal(r.GetPrice(), eur(20000)) || r.GetRateCardId() != card.GetId() || r.GetRateVersion() != 1 || r.GetQuoteId() == "" {
		t.Fatalf("price %v card %q v%d quote %q, want 200.00 EUR from %s v1", r.GetPrice(), r.GetRateCardId(), r.GetRateVersion(), r.GetQuoteId(), card.GetId())
	}
	if exp := r.GetHoldExpireTime().AsTime(); exp.Sub(r.GetCreateTime().AsTime()) != booking.DefaultHoldDuration {
		t.Errorf("hold expires %v after creation, want 15m", exp.Sub(r.GetCreateTime().AsTime()))
	}
	if len(r.GetCancellationPolicy().GetRules()) != 2 || r.GetSeat().GetCarrier() != "LH" || r.GetKind() != reservationv1.Kind_KIND_FLIGHT {
		t.Errorf("policy or seat copy missing: %v", r)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 2 || fc.GetSeatsSold() != 0 || fc.GetSeatsAvailable() != 8 {
		t.Fatalf("after hold: %v", fc)
	}

	// A new rate card version does not change the locked price.
	if _, err := e.fareOps.UpdateRateCard(grpctest.Context(t), updatePrice(card.GetId(), 99999)); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.GetReservation(); got.GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED ||
		!proto.Equal(got.GetPrice(), eur(20000)) || got.GetRateVersion() != 1 || got.GetHoldExpireTime() != nil {
		t.Fatalf("confirmed = %v", got)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 0 || fc.GetSeatsSold() != 2 {
		t.Fatalf("after confirm: %v", fc)
	}
	// Confirming again returns it unchanged.
	again, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()})
	if err != nil || again.GetReservation().GetVersion() != c.GetReservation().GetVersion() {
		t.Fatalf("confirm again = %v, %v", again, err)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsSold() != 2 {
		t.Fatalf("confirm twice sold %d", fc.GetSeatsSold())
	}
	if n := e.events(t, booking.EventHeld); n != 1 {
		t.Errorf("held events = %d", n)
	}
	if n := e.events(t, booking.EventConfirmed); n != 1 {
		t.Errorf("confirmed events = %d", n)
	}
	full, err := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId(), View: typev1.View_VIEW_FULL})
	if err != nil || len(full.GetReservation().GetHistory()) != 2 {
		t.Fatalf("history = %v, %v", full.GetReservation().GetHistory(), err)
	}
	basic, err := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId()})
	if err != nil || basic.GetReservation().GetTravelers() != nil || basic.GetReservation().GetHistory() != nil {
		t.Fatalf("basic view = %v, %v", basic.GetReservation(), err)
	}
}

// TestOverbookingSeats: 50 concurrent holds for the last 10 seats; exactly 10 succeed.
func TestOverbookingSeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	before := e.count(t, "SELECT count(*) FROM reservation")

	const callers = 50
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			req := seatHold(d.GetId(), 1)
			req.Reservation.CustomerId = fmt.Sprintf("cust-%d", i)
			_, errs[i] = e.svc.CreateReservation(grpctest.Context(t), req)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.FailedPrecondition, codes.ResourceExhausted:
		default:
			t.Errorf("hold failed with %v", err)
		}
	}
	if ok != 10 {
		t.Fatalf("%d holds succeeded, want exactly 10", ok)
	}
	fc := e.fareClass(t, d.GetId(), "economy")
	if fc.GetSeatsHeld() != 10 || fc.GetSeatsSold() != 0 || fc.GetSeatsAvailable() != 0 {
		t.Fatalf("counters %v", fc)
	}
	if n := e.count(t, "SELECT count(*) FROM reservation") - before; n != 10 {
		t.Fatalf("%d reservations written, want 10", n)
	}
	if n := e.count(t, "SELECT coalesce(sum(quantity), 0) FROM reservation WHERE departure_id = $1 AND status = 1", d.GetId()); n != int(fc.GetSeatsHeld()) {
		t.Fatalf("held counter %d, held reservations %d", fc.GetSeatsHeld(), n)
	}
	if n := e.events(t, booking.EventHeld); n != 10 {
		t.Fatalf("%d held events, want 10", n)
	}
}

// TestOverbookingStay: concurrent holds for a stay's last rooms, including overlapping
// stays, never exceed any night's capacity, and every night's counter matches.
func TestOverbookingStay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createProperty(t, property(5))

	const callers = 40
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			// Half want nights 10–13, half nights 11–14: nights 11 and 12 are shared.
			in := 10 + i%2
			req := stayHold(p.GetId(), 1, in, in+3)
			req.Reservation.CustomerId = fmt.Sprintf("cust-%d", i)
			_, errs[i] = e.svc.CreateReservation(grpctest.Context(t), req)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.FailedPrecondition, codes.ResourceExhausted:
		default:
			t.Errorf("hold failed with %v", err)
		}
	}
	if ok != 5 {
		t.Fatalf("%d holds succeeded, want exactly 5 (the shared nights have 5 rooms)", ok)
	}
	// Every night's counter equals the rooms of the held stays covering it, within capacity.
	bad := e.count(t, `
		SELECT count(*) FROM room_night n
		WHERE n.held + n.sold > n.capacity OR n.held <> (
			SELECT coalesce(sum(r.quantity), 0) FROM reservation r
			WHERE r.property_id = n.property_id AND r.room_type = n.room_type AND r.status = 1
				AND r.check_in_date <= n.night AND r.check_out_date > n.night)`)
	if bad != 0 {
		t.Fatalf("%d nights have inconsistent counters", bad)
	}
	if n := e.count(t, "SELECT max(held) FROM room_night"); n != 5 {
		t.Fatalf("fullest night holds %d, want 5", n)
	}
	// All nights or none: a stay over a full night and a free one takes nothing.
	before := e.snapshot(t)
	_, err := e.cust.CreateReservation(grpctest.Context(t), stayHold(p.GetId(), 1, 12, 16))
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonInsufficientAvailability)
	if after := e.snapshot(t); after != before {
		t.Fatalf("a failed hold wrote something:\n%s\n%s", before, after)
	}
	// The search shows what is left.
	resp, err := e.custInv.SearchStays(grpctest.Context(t), &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(13), CheckOutDate: date(15)})
	if err != nil {
		t.Fatal(err)
	}
	opt := resp.GetStays()[0].GetOptions()[0]
	if opt.GetRoomType() != "double" || opt.GetRoomsAvailable() < 0 || opt.GetRoomsAvailable() > 5 {
		t.Fatalf("search option %v", opt)
	}
}

// TestExpiryReleasesSeats drives the sweeper by hand with a moved clock.
func TestExpiryReleasesSeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 3))
	req := seatHold(d.GetId(), 3)
	req.HoldDuration = durationpb.New(time.Minute)
	r := e.hold(t, req)
	other := e.hold(t, func() *bookingv1.CreateReservationRequest {
		q := seatHold(d.GetId(), 1)
		q.Reservation.GetSeat().FareClass = "business"
		q.HoldDuration = durationpb.New(30 * time.Minute)
		return q
	}())
	if _, err := e.cust.CreateReservation(grpctest.Context(t), seatHold(d.GetId(), 1)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("hold on a full class = %v", err)
	}

	// Nothing is due yet.
	if n, err := e.b.Service.ExpireHolds(grpctest.Context(t), e.clock.Now()); err != nil || n != 0 {
		t.Fatalf("early sweep = %d, %v", n, err)
	}
	// Past the expiry but before the sweep: confirming fails cleanly.
	e.clock.Advance(2 * time.Minute)
	_, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonHoldExpired)

	n, err := e.b.Service.ExpireHolds(grpctest.Context(t), e.clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	got, err := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId()})
	if err != nil || got.GetReservation().GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_EXPIRED {
		t.Fatalf("after sweep = %v, %v", got, err)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 0 || fc.GetSeatsAvailable() != 3 {
		t.Fatalf("seats not released: %v", fc)
	}
	if fc := e.fareClass(t, d.GetId(), "business"); fc.GetSeatsHeld() != 1 {
		t.Fatalf("the unexpired hold was released: %v", fc)
	}
	if n := e.events(t, booking.EventExpired); n != 1 {
		t.Fatalf("%d expired events, want 1", n)
	}
	// Confirm after expiry fails cleanly and changes nothing.
	before := e.snapshot(t)
	_, err = e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonInvalidTransition)
	if after := e.snapshot(t); after != before {
		t.Fatalf("confirm after expiry wrote:\n%s\n%s", before, after)
	}
	// The released seats can be held again; a second sweep finds nothing more.
	e.hold(t, seatHold(d.GetId(), 3))
	if n, err := e.b.Service.ExpireHolds(grpctest.Context(t), e.clock.Now()); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v", n, err)
	}
	_ = other
}

// TestConcurrentSweepers: sweepers running at once (as replicas do) expire every hold
// exactly once.
func TestConcurrentSweepers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 200))
	for i := range 30 {
		req := seatHold(d.GetId(), 1)
		req.Reservation.CustomerId = fmt.Sprintf("c%d", i)
		req.HoldDuration = durationpb.New(time.Minute)
		if _, err := e.ops.CreateReservation(grpctest.Context(t), req); err != nil {
			t.Fatal(err)
		}
	}
	now := e.clock.Now().Add(time.Hour)
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Go(func() {
			n, err := e.b.Service.ExpireHolds(grpctest.Context(t), now)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != 30 {
		t.Fatalf("sweepers expired %v = %d, want 30 in all", counts, total)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 0 {
		t.Fatalf("held = %d", fc.GetSeatsHeld())
	}
	if n := e.events(t, booking.EventExpired); n != 30 {
		t.Fatalf("%d expired events", n)
	}
}

// updatePrice writes a new rate card version with another unit price.
func updatePrice(cardID string, unit int64) *farev1.UpdateRateCardRequest {
	return &farev1.UpdateRateCardRequest{
		RateCard:   &farev1.RateCard{Id: cardID, Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(unit)}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"inventory"}},
	}
}
