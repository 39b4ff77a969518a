package bookinggrpc_test

import (
	"maps"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/booking/booking"
)

func TestDepartureInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	in := departure(72*time.Hour, 10)
	req := &bookingv1.CreateDepartureRequest{Departure: in, RequestId: "dep-1"}
	d, err := e.opsInv.CreateDeparture(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	got := d.GetDeparture()
	if got.GetId() == "" || got.GetStatus() != bookingv1.DepartureStatus_DEPARTURE_STATUS_SCHEDULED || got.GetVersion() != 1 ||
		got.GetFareClasses()[0].GetSeatsAvailable() != 10 || len(got.GetFareClasses()[0].GetCancellationPolicy().GetRules()) != 2 {
		t.Fatalf("created %v", got)
	}
	again, err := e.opsInv.CreateDeparture(grpctest.Context(t), req)
	if err != nil || again.GetDeparture().GetId() != got.GetId() {
		t.Fatalf("retry = %v, %v", again, err)
	}
	if n := e.count(t, "SELECT count(*) FROM departure"); n != 1 {
		t.Fatalf("%d departures after a retry", n)
	}
	// Operators only.
	_, err = e.custInv.CreateDeparture(grpctest.Context(t), &bookingv1.CreateDepartureRequest{Departure: in})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.anonInv.GetDeparture(grpctest.Context(t), &bookingv1.GetDepartureRequest{DepartureId: got.GetId()})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	_, err = e.custInv.GetDeparture(grpctest.Context(t), &bookingv1.GetDepartureRequest{DepartureId: booking.NewID()})
	grpctest.WantCode(t, err, codes.NotFound)

	// A second departure the next day and the search by local date with quotes.
	e.createDeparture(t, departure(96*time.Hour, 10))
	local, _ := time.LoadLocation("Europe/Berlin")
	day := got.GetDepartureTime().AsTime().In(local)
	s, err := e.custInv.SearchDepartures(grpctest.Context(t), &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK",
		Date: dateOf(day), Passengers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.GetDepartures()) != 1 || s.GetDepartures()[0].GetDeparture().GetId() != got.GetId() {
		t.Fatalf("search = %v", s)
	}
	opts := s.GetDepartures()[0].GetOptions()
	if len(opts) != 2 || !opts[0].GetAvailable() || !proto.Equal(opts[0].GetQuote().GetTotalPrice(), eur(20000)) ||
		!proto.Equal(opts[1].GetQuote().GetTotalPrice(), eur(80000)) || opts[0].GetQuote().GetRateVersion() != 1 {
		t.Fatalf("options = %v", opts)
	}
	// Listing pages.
	l, err := e.opsInv.ListDepartures(grpctest.Context(t), &bookingv1.ListDeparturesRequest{PageSize: 1})
	if err != nil || len(l.GetDepartures()) != 1 || l.GetNextPageToken() == "" {
		t.Fatalf("list page 1 = %v, %v", l, err)
	}
	l2, err := e.opsInv.ListDepartures(grpctest.Context(t), &bookingv1.ListDeparturesRequest{PageSize: 1, PageToken: l.GetNextPageToken()})
	if err != nil || len(l2.GetDepartures()) != 1 || l2.GetNextPageToken() != "" || l2.GetDepartures()[0].GetId() == l.GetDepartures()[0].GetId() {
		t.Fatalf("list page 2 = %v, %v", l2, err)
	}
	// A token is refused with other filters, rather than skipping or repeating items.
	_, err = e.opsInv.ListDepartures(grpctest.Context(t), &bookingv1.ListDeparturesRequest{PageSize: 1, Carrier: "LH", PageToken: l.GetNextPageToken()})
	grpctest.WantField(t, err, "page_token")

	// Hold and confirm seats, then the schedule moves: reservations follow with modified events.
	r1 := e.hold(t, seatHold(got.GetId(), 3))
	r2 := e.hold(t, seatHold(got.GetId(), 2))
	if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r2.GetId()}); err != nil {
		t.Fatal(err)
	}
	// Capacity cannot drop below held plus sold; a fare class in use cannot go.
	lower := proto.Clone(got).(*bookingv1.Departure)
	lower.FareClasses[0].Capacity = 4
	_, err = e.opsInv.UpdateDeparture(grpctest.Context(t), &bookingv1.UpdateDepartureRequest{Departure: lower, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"fare_classes"}}})
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonInUse)
	drop := proto.Clone(got).(*bookingv1.Departure)
	drop.FareClasses = drop.FareClasses[1:]
	_, err = e.opsInv.UpdateDeparture(grpctest.Context(t), &bookingv1.UpdateDepartureRequest{Departure: drop, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"fare_classes"}}})
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonInUse)

	moved := proto.Clone(got).(*bookingv1.Departure)
	moved.DepartureTime = timestamppb.New(got.GetDepartureTime().AsTime().Add(time.Hour))
	moved.ArrivalTime = timestamppb.New(got.GetArrivalTime().AsTime().Add(time.Hour))
	moved.FareClasses[0].Capacity = 20
	u, err := e.opsInv.UpdateDeparture(grpctest.Context(t), &bookingv1.UpdateDepartureRequest{Departure: moved,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"departure_time", "arrival_time", "fare_classes"}}})
	if err != nil {
		t.Fatal(err)
	}
	if fc := u.GetDeparture().GetFareClasses()[0]; fc.GetCapacity() != 20 || fc.GetSeatsHeld() != 3 || fc.GetSeatsSold() != 2 || u.GetDeparture().GetVersion() != 2 {
		t.Fatalf("updated = %v", u.GetDeparture())
	}
	_, err = e.opsInv.UpdateDeparture(grpctest.Context(t), &bookingv1.UpdateDepartureRequest{Departure: &bookingv1.Departure{Id: got.GetId(), Version: 1, SubStatus: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sub_status"}}})
	grpctest.WantCode(t, err, codes.Aborted)
	if n := e.events(t, booking.EventModified); n != 2 {
		t.Fatalf("%d modified events after a schedule change, want 2", n)
	}
	r, _ := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r1.GetId()})
	if !r.GetReservation().GetServicePeriod().GetStartTime().AsTime().Equal(moved.GetDepartureTime().AsTime()) ||
		!r.GetReservation().GetSeat().GetDepartureTime().AsTime().Equal(moved.GetDepartureTime().AsTime()) {
		t.Fatalf("reservation did not follow the schedule: %v", r.GetReservation())
	}

	// Cancelling the departure cancels both reservations with a full refund.
	c, err := e.opsInv.CancelDeparture(grpctest.Context(t), &bookingv1.CancelDepartureRequest{DepartureId: got.GetId(), Reason: "strike", RequestId: "cx"})
	if err != nil || c.GetCancelledReservationCount() != 2 || c.GetDeparture().GetStatus() != bookingv1.DepartureStatus_DEPARTURE_STATUS_CANCELLED {
		t.Fatalf("cancel = %v, %v", c, err)
	}
	if fc := c.GetDeparture().GetFareClasses()[0]; fc.GetSeatsHeld() != 0 || fc.GetSeatsSold() != 0 {
		t.Fatalf("counters after cancel: %v", fc)
	}
	r, _ = e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r2.GetId()})
	if rr := r.GetReservation(); rr.GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED ||
		rr.GetSubStatus() != booking.SubStatusDepartureCancelled || !proto.Equal(rr.GetCancellation().GetRefundableAmount(), eur(20000)) {
		t.Fatalf("reservation after departure cancel: %v", rr)
	}
	again2, err := e.opsInv.CancelDeparture(grpctest.Context(t), &bookingv1.CancelDepartureRequest{DepartureId: got.GetId(), Reason: "strike", RequestId: "cx"})
	if err != nil || again2.GetCancelledReservationCount() != 2 {
		t.Fatalf("cancel retry = %v, %v", again2, err)
	}
	_, err = e.cust.CreateReservation(grpctest.Context(t), seatHold(got.GetId(), 1))
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonNotOnSale)
	if n := e.events(t, booking.EventDepartureCancelled); n != 1 {
		t.Fatalf("%d departure cancelled events", n)
	}
}

func TestPropertyInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createProperty(t, property(2))
	if p.GetCheckInHour() != booking.DefaultCheckInHour || p.GetCheckOutHour() != booking.DefaultCheckOutHour || p.GetStatus() != bookingv1.PropertyStatus_PROPERTY_STATUS_ACTIVE {
		t.Fatalf("created %v", p)
	}
	_, err := e.custInv.CreateProperty(grpctest.Context(t), &bookingv1.CreatePropertyRequest{Property: property(1)})
	grpctest.WantCode(t, err, codes.PermissionDenied)

	r := e.hold(t, stayHold(p.GetId(), 2, 5, 8))
	s, err := e.custInv.SearchStays(grpctest.Context(t), &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(4), CheckOutDate: date(6), Guests: 2})
	if err != nil || len(s.GetStays()) != 1 {
		t.Fatalf("search = %v, %v", s, err)
	}
	opts := s.GetStays()[0].GetOptions()
	// Both room types fit two guests in one room? single has max 1 guest: only double fits.
	if len(opts) != 1 || opts[0].GetRoomType() != "double" || opts[0].GetRoomsAvailable() != 0 || opts[0].GetAvailable() || opts[0].GetQuote() != nil {
		t.Fatalf("options = %v", opts)
	}
	s, err = e.custInv.SearchStays(grpctest.Context(t), &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(8), CheckOutDate: date(10), Guests: 2})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.GetStays()[0].GetOptions()[0]; o.GetRoomsAvailable() != 2 || !o.GetAvailable() || !proto.Equal(o.GetQuote().GetTotalPrice(), eur(18000)) {
		t.Fatalf("free nights option = %v", o)
	}

	// Capacity cannot drop below a future night's reservations.
	lower := proto.Clone(p).(*bookingv1.Property)
	lower.RoomTypes[0].NightlyCapacity = 1
	_, err = e.opsInv.UpdateProperty(grpctest.Context(t), &bookingv1.UpdatePropertyRequest{Property: lower, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"room_types"}}})
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonInUse)
	lower.RoomTypes[0].NightlyCapacity = 3
	lower.Name = "Hotel Adlon Kempinski"
	u, err := e.opsInv.UpdateProperty(grpctest.Context(t), &bookingv1.UpdatePropertyRequest{Property: lower, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"room_types", "name"}}})
	if err != nil || u.GetProperty().GetName() != lower.GetName() || u.GetProperty().GetVersion() != 2 {
		t.Fatalf("update = %v, %v", u, err)
	}
	if n := e.count(t, "SELECT count(*) FROM room_night WHERE capacity = 3"); n != 3 {
		t.Fatalf("%d nights follow the new capacity, want 3", n)
	}
	// A new check-in hour moves the held stay: a new service period, a new version and a
	// modified event, like a departure's new schedule.
	later := proto.Clone(u.GetProperty()).(*bookingv1.Property)
	later.CheckInHour = booking.DefaultCheckInHour + 2
	if _, err := e.opsInv.UpdateProperty(grpctest.Context(t), &bookingv1.UpdatePropertyRequest{Property: later, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"check_in_hour"}}}); err != nil {
		t.Fatal(err)
	}
	moved, err := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	start := func(x *bookingv1.Reservation) time.Time { return x.GetServicePeriod().GetStartTime().AsTime() }
	if m := moved.GetReservation(); start(m).Sub(start(r)) != 2*time.Hour || m.GetVersion() != r.GetVersion()+1 {
		t.Fatalf("after the check-in hour moved 2 h later: start %v (was %v), version %d (was %d)", start(m), start(r), m.GetVersion(), r.GetVersion())
	}
	if n := e.events(t, booking.EventModified); n != 1 {
		t.Fatalf("%d modified events, want 1", n)
	}

	c, err := e.opsInv.CloseProperty(grpctest.Context(t), &bookingv1.ClosePropertyRequest{PropertyId: p.GetId(), Reason: "renovation"})
	if err != nil || c.GetCancelledReservationCount() != 1 || c.GetProperty().GetStatus() != bookingv1.PropertyStatus_PROPERTY_STATUS_CLOSED {
		t.Fatalf("close = %v, %v", c, err)
	}
	if n := e.count(t, "SELECT coalesce(sum(held + sold), 0) FROM room_night"); n != 0 {
		t.Fatalf("%d rooms still taken after closing", n)
	}
	got, _ := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId()})
	if got.GetReservation().GetSubStatus() != booking.SubStatusPropertyClosed {
		t.Fatalf("reservation after close: %v", got.GetReservation())
	}
	_, err = e.cust.CreateReservation(grpctest.Context(t), stayHold(p.GetId(), 1, 5, 6))
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonNotOnSale)
	s, err = e.custInv.SearchStays(grpctest.Context(t), &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(8), CheckOutDate: date(10)})
	if err != nil || len(s.GetStays()) != 0 {
		t.Fatalf("closed property found: %v, %v", s, err)
	}
	l, err := e.opsInv.ListProperties(grpctest.Context(t), &bookingv1.ListPropertiesRequest{City: "berlin"})
	if err != nil || len(l.GetProperties()) != 1 {
		t.Fatalf("list = %v, %v", l, err)
	}
}

// TestFarePricing: the price follows the fare service; without a rate card nothing is held.
func TestFarePricing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	before := e.snapshot(t)
	_, err := e.cust.CreateReservation(grpctest.Context(t), seatHold(d.GetId(), 1))
	if info := grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonNotPriced); info.GetDomain() != "booking.waybill.dev" {
		t.Errorf("ErrorInfo domain %q, want booking.waybill.dev", info.GetDomain())
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("an unpriced hold wrote:\n%s\n%s", before, after)
	}
	e.routeCard(t)
	req := seatHold(d.GetId(), 1)
	req.ExpectedPrice = eur(9999)
	_, err = e.cust.CreateReservation(grpctest.Context(t), req)
	grpctest.WantReason(t, err, codes.FailedPrecondition, booking.ReasonPriceChanged)
	req.ExpectedPrice = eur(10000)
	if _, err := e.cust.CreateReservation(grpctest.Context(t), req); err != nil {
		t.Fatal(err)
	}
}

// TestFareUnavailable: a hold fare cannot price is UNAVAILABLE naming fare
// (FARE_UNAVAILABLE, not booking's own database), and holds nothing.
func TestFareUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	e.fare.Stop()
	before := e.snapshot(t)
	_, err := e.cust.CreateReservation(grpctest.Context(t), seatHold(d.GetId(), 1))
	if info := grpctest.WantReason(t, err, codes.Unavailable, booking.ReasonFareUnavailable); info.GetDomain() != "booking.waybill.dev" {
		t.Errorf("ErrorInfo domain %q, want booking.waybill.dev", info.GetDomain())
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("an unpriced hold wrote:\n%s\n%s", before, after)
	}
	// Searches still answer, without prices.
	local, _ := time.LoadLocation("Europe/Berlin")
	s, err := e.custInv.SearchDepartures(grpctest.Context(t), &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK",
		Date: dateOf(d.GetDepartureTime().AsTime().In(local)), Passengers: 1})
	if err != nil || len(s.GetDepartures()) != 1 || s.GetDepartures()[0].GetOptions()[0].GetQuote() != nil {
		t.Fatalf("search without fare = %v, %v", s, err)
	}
}

func dateOf(t time.Time) *typev1.Date {
	return &typev1.Date{Year: int32(t.Year()), Month: int32(t.Month()), Day: int32(t.Day())}
}

// TestSearchPricesAPageInOneFareCall: a page of departures, each with two fare classes,
// is priced with one BatchQuoteInventory call, not one call per offer. The fare class
// without a rate card is offered without a price; the others carry their quotes.
func TestSearchPricesAPageInOneFareCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rateCard(t, seatKey("economy"), 10000) // business has no card
	first := e.createDeparture(t, departure(72*time.Hour, 10))
	for i := 1; i < 6; i++ {
		e.createDeparture(t, departure(72*time.Hour+time.Duration(i)*time.Minute, 10))
	}
	local, _ := time.LoadLocation("Europe/Berlin")
	day := first.GetDepartureTime().AsTime().In(local)
	e.fareCalls.Take()
	s, err := e.custInv.SearchDepartures(grpctest.Context(t), &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK",
		Date: dateOf(day), Passengers: 1})
	if err != nil {
		t.Fatal(err)
	}
	calls := e.fareCalls.Take()
	if len(s.GetDepartures()) == 0 {
		t.Fatal("no departures found")
	}
	for _, d := range s.GetDepartures() {
		for _, o := range d.GetOptions() {
			priced := o.GetQuote() != nil
			if want := o.GetFareClass() == "economy"; priced != want {
				t.Errorf("departure %s %s: quote %v", d.GetDeparture().GetId(), o.GetFareClass(), o.GetQuote())
			}
			if priced && !proto.Equal(o.GetQuote().GetTotalPrice(), eur(10000)) {
				t.Errorf("departure %s economy: %v, want 100.00 EUR", d.GetDeparture().GetId(), o.GetQuote().GetTotalPrice())
			}
		}
	}
	want := map[string]int{farev1.FareService_BatchQuoteInventory_FullMethodName: 1}
	if !maps.Equal(calls, want) {
		t.Fatalf("fare calls for a page of %d departures: %v, want %v", len(s.GetDepartures()), calls, want)
	}
}

// BenchmarkSearchDepartures measures a search page of 20 departures with two priced fare
// classes each (40 offers to quote), through gRPC, with fare on its own database.
func BenchmarkSearchDepartures(b *testing.B) {
	e := newEnv(b)
	e.routeCard(b)
	first := e.createDeparture(b, departure(72*time.Hour, 10))
	for i := 1; i < 20; i++ {
		e.createDeparture(b, departure(72*time.Hour+time.Duration(i)*time.Second, 10))
	}
	local, _ := time.LoadLocation("Europe/Berlin")
	req := &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK",
		Date: dateOf(first.GetDepartureTime().AsTime().In(local)), Passengers: 1, PageSize: 20}
	for b.Loop() {
		s, err := e.custInv.SearchDepartures(grpctest.Context(b), req)
		if err != nil {
			b.Fatal(err)
		}
		if o := s.GetDepartures()[0].GetOptions(); o[0].GetQuote() == nil || o[1].GetQuote() == nil {
			b.Fatalf("unpriced options %v", o)
		}
	}
}
