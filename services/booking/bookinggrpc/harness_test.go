package bookinggrpc_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookingapp"
	"github.com/waybill/waybill/services/booking/bookingpg"
	"github.com/waybill/waybill/services/fare/fareapp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is the booking server's clock in tests: real time plus an offset tests move.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// queryCounter is a pgx tracer counting the round trips to the database made on behalf
// of one gRPC method: each statement sent on its own, and each pipelined batch.
type queryCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (q *queryCounter) count(ctx context.Context) {
	if m, ok := grpc.Method(ctx); ok {
		q.mu.Lock()
		q.counts[m]++
		q.mu.Unlock()
	}
}

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.count(ctx)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (q *queryCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	q.count(ctx)
	return ctx
}

func (q *queryCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (q *queryCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// take returns and resets the round trips counted for a method.
func (q *queryCounter) take(method string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.counts[method]
	delete(q.counts, method)
	return n
}

// env is a booking server on loopback, started through bookingapp.Start on a fresh
// database, pricing through a real fare server on its own database.
type env struct {
	pool    *pgxpool.Pool
	addr    string
	b       *bookingapp.App
	clock   *clock
	queries *queryCounter

	fare      *grpctest.Server
	fareOps   farev1.FareServiceClient
	fareCalls *grpctest.CallCounter // calls booking made to fare, by method

	opsInv, custInv  bookingv1.InventoryServiceClient
	anonInv          bookingv1.InventoryServiceClient
	ops, cust, cust2 bookingv1.ReservationServiceClient
	svc, anon        bookingv1.ReservationServiceClient
	provOps          reservationv1.ReservationProviderServiceClient
	provSvc          reservationv1.ReservationProviderServiceClient
	provCust         reservationv1.ReservationProviderServiceClient
	provAnon         reservationv1.ReservationProviderServiceClient
	stream           eventsv1.EventStreamServiceClient
}

const (
	customer1 = "cust-1"
	customer2 = "cust-2"
)

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with tune, when set, changing booking's configuration.
func newEnvWith(t testing.TB, tune func(*bookingapp.Config)) *env {
	t.Helper()
	e := &env{clock: &clock{}, fareCalls: &grpctest.CallCounter{}}

	// The fare service, for real.
	fare := grpctest.Start(t, fareapp.Spec(), grpctest.WithServerOptions(e.fareCalls.ServerOption()))
	e.fare = fare

	// Booking's own pool, with a tracer counting round trips per gRPC method.
	url := pgtest.NewURL(t, pgtest.Schemas{"booking": bookingpg.Migrations})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "booking"
	cfg.MaxConns = 12
	e.queries = &queryCounter{counts: map[string]int{}}
	cfg.ConnConfig.Tracer = e.queries
	if e.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)

	c := bookingapp.DefaultConfig()
	c.FareAddr, c.Now, c.SweepInterval = fare.Addr, e.clock.Now, 0
	c.AccountAddr = "" // tests of the suspension gate start an account service and set it
	if tune != nil {
		tune(&c)
	}
	s := grpctest.Start(t, serve.Spec{Name: "booking", EventTypes: booking.EventTypes, Register: func(ctx context.Context, d serve.Deps) error {
		var err error
		e.b, err = bookingapp.Start(ctx, d, c)
		return err
	}}, grpctest.WithPool(e.pool))
	e.addr = s.Addr

	opsID := auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}
	c1 := s.Conn(auth.Identity{Subject: customer1, Role: auth.RoleCustomer})
	c2 := s.Conn(auth.Identity{Subject: customer2, Role: auth.RoleCustomer})
	ops := s.Conn(opsID)
	svc := s.Conn(auth.Identity{Subject: "billing", Role: auth.RoleService})
	anon := s.Conn(auth.Identity{})
	e.fareOps = farev1.NewFareServiceClient(fare.Conn(opsID))
	e.opsInv, e.custInv, e.anonInv = bookingv1.NewInventoryServiceClient(ops), bookingv1.NewInventoryServiceClient(c1), bookingv1.NewInventoryServiceClient(anon)
	e.ops, e.cust, e.cust2 = bookingv1.NewReservationServiceClient(ops), bookingv1.NewReservationServiceClient(c1), bookingv1.NewReservationServiceClient(c2)
	e.svc, e.anon = bookingv1.NewReservationServiceClient(svc), bookingv1.NewReservationServiceClient(anon)
	e.stream = eventsv1.NewEventStreamServiceClient(svc)
	e.provSvc = reservationv1.NewReservationProviderServiceClient(svc)
	e.provOps, e.provCust, e.provAnon = reservationv1.NewReservationProviderServiceClient(ops), reservationv1.NewReservationProviderServiceClient(c1), reservationv1.NewReservationProviderServiceClient(anon)
	return e
}

func eur(n int64) *typev1.Money { return &typev1.Money{AmountMinor: n, CurrencyCode: "EUR"} }

// policy is 100 % back a week ahead, 50 % a day ahead, nothing later.
func policy() *bookingv1.CancellationPolicy {
	return &bookingv1.CancellationPolicy{Rules: []*bookingv1.CancellationRule{
		{MinNotice: durationpb.New(7 * 24 * time.Hour), RefundBps: 10000},
		{MinNotice: durationpb.New(24 * time.Hour), RefundBps: 5000},
	}}
}

// departure returns a departure FRA → JFK leaving in `in`, with an economy class of
// capacity seats and a business class of 4.
func departure(in time.Duration, capacity int32) *bookingv1.Departure {
	dep := time.Now().Add(in).Truncate(time.Second)
	return &bookingv1.Departure{
		Mode: bookingv1.TransportMode_TRANSPORT_MODE_FLIGHT, Carrier: "LH", Number: "400", Origin: "FRA",
		Destination: "JFK", DepartureTime: timestamppb.New(dep), ArrivalTime: timestamppb.New(dep.Add(8 * time.Hour)),
		OriginTimeZone: "Europe/Berlin",
		FareClasses: []*bookingv1.FareClass{
			{Name: "economy", DisplayName: "Economy", Capacity: capacity, CancellationPolicy: policy()},
			{Name: "business", Capacity: 4},
		},
	}
}

// rateCard creates a fare rate card without dynamic pricing.
func (e *env) rateCard(t testing.TB, key *farev1.ProductKey, unit int64) *farev1.RateCard {
	t.Helper()
	resp, err := e.fareOps.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: &farev1.RateCard{
		ProductKey: key, CurrencyCode: "EUR",
		Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(unit)}},
	}})
	if err != nil {
		t.Fatalf("create rate card: %v", err)
	}
	return resp.GetRateCard()
}

// routeCard prices LH FRA → JFK economy and business at 100.00 and 400.00 EUR.
func (e *env) routeCard(t testing.TB) *farev1.RateCard {
	t.Helper()
	e.rateCard(t, seatKey("business"), 40000)
	return e.rateCard(t, seatKey("economy"), 10000)
}

func seatKey(fareClass string) *farev1.ProductKey {
	return &farev1.ProductKey{Product: &farev1.ProductKey_Seat{Seat: &farev1.SeatProduct{
		Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: fareClass,
	}}}
}

// createDeparture creates a departure through the API.
func (e *env) createDeparture(t testing.TB, d *bookingv1.Departure) *bookingv1.Departure {
	t.Helper()
	resp, err := e.opsInv.CreateDeparture(grpctest.Context(t), &bookingv1.CreateDepartureRequest{Departure: d})
	if err != nil {
		t.Fatalf("create departure: %v", err)
	}
	return resp.GetDeparture()
}

// property returns a Berlin hotel with a "double" room type of capacity rooms.
func property(capacity int32) *bookingv1.Property {
	return &bookingv1.Property{
		Name: "Hotel Adlon", City: "berlin", Address: "Unter den Linden 77",
		Location: &typev1.GeoPoint{Latitude: 52.5, Longitude: 13.38}, TimeZone: "Europe/Berlin",
		RoomTypes: []*bookingv1.RoomType{
			{Name: "double", NightlyCapacity: capacity, MaxGuests: 2, CancellationPolicy: policy()},
			{Name: "single", NightlyCapacity: 5, MaxGuests: 1},
		},
	}
}

// createProperty creates a property and a rate card for its double rooms (90.00 EUR a night).
func (e *env) createProperty(t testing.TB, p *bookingv1.Property) *bookingv1.Property {
	t.Helper()
	resp, err := e.opsInv.CreateProperty(grpctest.Context(t), &bookingv1.CreatePropertyRequest{Property: p})
	if err != nil {
		t.Fatalf("create property: %v", err)
	}
	e.rateCard(t, &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{
		PropertyId: resp.GetProperty().GetId(), RoomType: "double"}}}, 9000)
	return resp.GetProperty()
}

// date returns the date days from now in Berlin.
func date(days int) *typev1.Date {
	loc, _ := time.LoadLocation("Europe/Berlin")
	y, m, d := time.Now().In(loc).AddDate(0, 0, days).Date()
	return &typev1.Date{Year: int32(y), Month: int32(m), Day: int32(d)}
}

func travelers(n int) []*bookingv1.Traveler {
	out := make([]*bookingv1.Traveler, n)
	for i := range out {
		out[i] = &bookingv1.Traveler{FullName: fmt.Sprintf("Traveller %d", i+1)}
	}
	return out
}

// seatHold is a request for quantity economy seats on a departure.
func seatHold(departureID string, quantity int32) *bookingv1.CreateReservationRequest {
	return &bookingv1.CreateReservationRequest{Reservation: &bookingv1.Reservation{
		Item:     &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{DepartureId: departureID, FareClass: "economy"}},
		Quantity: quantity, Travelers: travelers(int(quantity)),
	}}
}

// stayHold is a request for rooms of the double room type from day in to day out.
func stayHold(propertyID string, rooms int32, in, out int) *bookingv1.CreateReservationRequest {
	return &bookingv1.CreateReservationRequest{Reservation: &bookingv1.Reservation{
		Item: &bookingv1.Reservation_Stay{Stay: &bookingv1.StayItem{PropertyId: propertyID, RoomType: "double",
			CheckInDate: date(in), CheckOutDate: date(out), GuestCount: rooms}},
		Quantity: rooms, Travelers: travelers(1),
	}}
}

// hold creates a reservation as customer 1.
func (e *env) hold(t testing.TB, req *bookingv1.CreateReservationRequest) *bookingv1.Reservation {
	t.Helper()
	resp, err := e.cust.CreateReservation(grpctest.Context(t), req)
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	return resp.GetReservation()
}

// fareClass returns a fare class of a departure as the API shows it now.
func (e *env) fareClass(t testing.TB, departureID, name string) *bookingv1.FareClass {
	t.Helper()
	resp, err := e.opsInv.GetDeparture(grpctest.Context(t), &bookingv1.GetDepartureRequest{DepartureId: departureID})
	if err != nil {
		t.Fatal(err)
	}
	for _, fc := range resp.GetDeparture().GetFareClasses() {
		if fc.GetName() == name {
			return fc
		}
	}
	t.Fatalf("no fare class %s", name)
	return nil
}

// count runs a counting query.
func (e *env) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// events counts events of a type, sequenced or not yet.
func (e *env) events(t testing.TB, typ string) int {
	t.Helper()
	return e.count(t, `SELECT (SELECT count(*) FROM outbox WHERE type = $1) + (SELECT count(*) FROM event_log WHERE type = $1)`, typ)
}

// snapshot is the number of rows in every booking table, to show a failed call wrote nothing.
func (e *env) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"departure", "fare_class", "property", "room_type", "room_night", "reservation", "idempotency_keys"} {
		fmt.Fprintf(&b, "%s=%d ", table, e.count(t, "SELECT count(*) FROM "+table))
	}
	fmt.Fprintf(&b, "events=%d ", e.count(t, "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM event_log)"))
	fmt.Fprintf(&b, "counters=%d", e.count(t, "SELECT coalesce(sum(held + sold), 0) FROM (SELECT held, sold FROM fare_class UNION ALL SELECT held, sold FROM room_night) c"))
	return b.String()
}
