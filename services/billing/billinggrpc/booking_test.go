package billinggrpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookingapp"
)

// flatPricer prices every seat at 100.00 EUR, standing in for the fare service.
type flatPricer struct{}

func (flatPricer) QuoteSeats(_ context.Context, q booking.SeatQuoteRequest) (booking.Quote, error) {
	unit := money.Money{Amount: 10000, Currency: "EUR"}
	return booking.Quote{ID: "q", RateCardID: "rc", RateVersion: 1, Unit: unit,
		Total: money.Money{Amount: unit.Amount * int64(q.Quantity), Currency: "EUR"}, ValidUntil: time.Now().Add(time.Hour)}, nil
}

func (flatPricer) QuoteStay(context.Context, booking.StayQuoteRequest) (booking.Quote, error) {
	return booking.Quote{}, errs.Unreachable("FARE_UNAVAILABLE", "flatPricer prices seats only")
}

func (flatPricer) QuoteOffers(context.Context, []booking.OfferQuoteRequest) ([]*booking.Quote, error) {
	return nil, errs.Unreachable("FARE_UNAVAILABLE", "flatPricer prices seats only")
}

// realBooking is the real booking service, started for a test on its own database and
// pricing every seat with flatPricer, with a customer's and an operator's clients.
type realBooking struct {
	addr string
	app  *bookingapp.App
	inv  bookingv1.InventoryServiceClient   // as an operator
	res  bookingv1.ReservationServiceClient // as customer cust-1
}

// startRealBooking starts booking with the clock now (nil: time.Now) until the test ends.
func startRealBooking(t *testing.T, now func() time.Time) *realBooking {
	t.Helper()
	rb := &realBooking{}
	cfg := bookingapp.DefaultConfig()
	cfg.Pricer, cfg.Now, cfg.SweepInterval = flatPricer{}, now, 0
	spec := bookingapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error {
		var err error
		rb.app, err = bookingapp.Start(ctx, d, cfg)
		return err
	}
	s := grpctest.Start(t, spec)
	rb.addr = s.Addr
	rb.inv = bookingv1.NewInventoryServiceClient(s.Conn(auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	rb.res = bookingv1.NewReservationServiceClient(s.Conn(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}))
	return rb
}

// departure creates a flight LH <number> FRA → JFK in 30 days, 10 economy seats, and
// returns its id.
func (rb *realBooking) departure(t *testing.T, number string) string {
	t.Helper()
	dep := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	d, err := rb.inv.CreateDeparture(grpctest.Context(t), &bookingv1.CreateDepartureRequest{Departure: &bookingv1.Departure{
		Mode: bookingv1.TransportMode_TRANSPORT_MODE_FLIGHT, Carrier: "LH", Number: number, Origin: "FRA", Destination: "JFK",
		DepartureTime: timestamppb.New(dep), ArrivalTime: timestamppb.New(dep.Add(8 * time.Hour)), OriginTimeZone: "Europe/Berlin",
		FareClasses: []*bookingv1.FareClass{{Name: "economy", Capacity: 10}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return d.GetDeparture().GetId()
}

// hold holds one economy seat of departure for cust-1 and returns the reservation's id.
func (rb *realBooking) hold(t *testing.T, departure string) string {
	t.Helper()
	r, err := rb.res.CreateReservation(grpctest.Context(t), &bookingv1.CreateReservationRequest{Reservation: &bookingv1.Reservation{
		Item:     &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{DepartureId: departure, FareClass: "economy"}},
		Quantity: 1, Travelers: []*bookingv1.Traveler{{FullName: "Ada Lovelace"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetReservation().GetId()
}

// TestReadModelFollowsRealBooking runs billing against the real booking service: a
// confirmation, a cancellation and an expiry of a hold each show on the bill item.
func TestReadModelFollowsRealBooking(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	rb := startRealBooking(t, now)
	res := rb.res
	e := startBilling(t, newBillingDB(t), nil, "flight=booking@"+rb.addr+",stay=booking@"+rb.addr)
	c := grpctest.Context(t)
	dep := rb.departure(t, "400")
	hold := func() string { return rb.hold(t, dep) }
	bill := e.openBill(t)
	confirmed, cancelled, expired := hold(), hold(), hold()
	for _, id := range []string{confirmed, cancelled, expired} {
		e.add(t, bill.GetId(), reservationv1.Kind_KIND_FLIGHT, id)
	}
	status := func(id string) reservationv1.MainStatus {
		got, err := e.customer.GetBill(c, &billingv1.GetBillRequest{BillId: bill.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range got.GetBill().GetItems() {
			if it.GetReservationId() == id {
				return it.GetMainStatus()
			}
		}
		t.Fatalf("no item for %s", id)
		return 0
	}
	for _, id := range []string{confirmed, cancelled, expired} {
		if s := status(id); s != reservationv1.MainStatus_MAIN_STATUS_PENDING {
			t.Fatalf("held reservation shows %v", s)
		}
	}
	t0 := time.Now()
	if _, err := res.ConfirmReservation(c, &bookingv1.ConfirmReservationRequest{ReservationId: confirmed}); err != nil {
		t.Fatal(err)
	}
	if _, err := res.CancelReservation(c, &bookingv1.CancelReservationRequest{ReservationId: cancelled, Reason: "changed plans"}); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(time.Hour)) // past the holds' expiry
	if _, err := rb.app.Service.ExpireHolds(c, now()); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "confirm, cancel and expiry on the bill", func() bool {
		return status(confirmed) == reservationv1.MainStatus_MAIN_STATUS_CONFIRMED &&
			status(cancelled) == reservationv1.MainStatus_MAIN_STATUS_CANCELLED &&
			status(expired) == reservationv1.MainStatus_MAIN_STATUS_EXPIRED
	})
	t.Logf("booking's changes showed on the bill after %v", time.Since(t0).Round(time.Millisecond))

	// The panel's details come from booking, in one call.
	e.calls.Reset()
	page, err := e.operator.ListBills(c, &billingv1.ListBillsRequest{View: typev1.View_VIEW_FULL})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range page.GetBills()[0].GetItems() {
		if it.GetDetailsStatus() != billingv1.DetailsStatus_DETAILS_STATUS_OK || it.GetDetails().GetSeat().GetCarrier() != "LH" || it.GetTitle() == "" {
			t.Fatalf("booking item = %v", it)
		}
	}
	if n := e.calls.Count(detailsMethod); n != 1 {
		t.Fatalf("%d GetReservationDetails calls, want 1", n)
	}
	// Only the confirmed seat is billed.
	fin, err := e.customer.FinalizeBill(c, &billingv1.FinalizeBillRequest{BillId: bill.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if tot := fin.GetBill().GetTotals(); len(tot) != 1 || tot[0].GetAmountMinor() != 10000 {
		t.Fatalf("totals = %v, want 100.00 EUR", tot)
	}
}
