package analyticsapp_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/analytics/analytics"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/analytics/analyticspg"
	"github.com/waybill/waybill/services/booking/bookingapp"
	"github.com/waybill/waybill/services/fare/fareapp"
	"github.com/waybill/waybill/services/payment/paymentapp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	operator = auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}
	customer = auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}
	service  = auth.Identity{Subject: "analytics", Role: auth.RoleService}
)

// mesh is the real source services (fare, booking, payment) and analytics consuming
// them, each on loopback with its own database. Analytics' database also holds a second,
// fresh schema for rebuilds.
type mesh struct {
	fare, booking, payment, analytics *grpctest.Server
	rebuildPool                       *pgxpool.Pool
	svc                               *analytics.Service

	fareOps    farev1.FareServiceClient
	inventory  bookingv1.InventoryServiceClient
	custRes    bookingv1.ReservationServiceClient
	payments   paymentv1.PaymentServiceClient
	kpis       analyticsv1.AnalyticsServiceClient
	custKpis   analyticsv1.AnalyticsServiceClient
	anonKpis   analyticsv1.AnalyticsServiceClient
	sourceAddr map[string]string
}

// rebuildSchema is the fresh schema rebuilds write to in tests.
const rebuildSchema = "analytics_rebuild"

func newMesh(t *testing.T, cfg func(*analyticsapp.Config)) *mesh {
	t.Helper()
	m := &mesh{}
	m.fare = grpctest.Start(t, fareapp.Spec())
	bc := bookingapp.DefaultConfig()
	bc.FareAddr, bc.SweepInterval = m.fare.Addr, 0
	m.booking = grpctest.Start(t, bookingSpec(bc))
	pc := paymentapp.DefaultConfig()
	pc.BackgroundInterval = 0
	m.payment = grpctest.Start(t, serve.Spec{Name: paymentapp.Name, Migrations: paymentapp.Spec().Migrations,
		EventTypes: paymentapp.Spec().EventTypes, Register: func(ctx context.Context, d serve.Deps) error {
			return paymentapp.Register(ctx, d, pc)
		}})

	url := pgtest.NewURL(t, pgtest.Schemas{analyticsapp.Name: analyticspg.Migrations, rebuildSchema: analyticspg.Migrations})
	pool := newPool(t, url, analyticsapp.Name)
	m.rebuildPool = newPool(t, url, rebuildSchema)

	ac := analyticsapp.DefaultConfig()
	m.sourceAddr = map[string]string{"booking": m.booking.Addr, "fare": m.fare.Addr, "payment": m.payment.Addr, "billing": ""}
	ac.Sources = m.sourceAddr
	ac.AlertInterval = 0
	ac.Reconnect = consumer.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	ac.Service = func(s *analytics.Service) { m.svc = s }
	if cfg != nil {
		cfg(&ac)
	}
	m.analytics = grpctest.Start(t, serve.Spec{Name: analyticsapp.Name, Migrations: analyticspg.Migrations,
		EventTypes: analytics.EventTypes, Register: func(ctx context.Context, d serve.Deps) error {
			return analyticsapp.Register(ctx, d, ac)
		}}, grpctest.WithPool(pool))

	m.fareOps = farev1.NewFareServiceClient(m.fare.Conn(operator))
	m.inventory = bookingv1.NewInventoryServiceClient(m.booking.Conn(operator))
	m.custRes = bookingv1.NewReservationServiceClient(m.booking.Conn(customer))
	m.payments = paymentv1.NewPaymentServiceClient(m.payment.Conn(service))
	m.kpis = analyticsv1.NewAnalyticsServiceClient(m.analytics.Conn(operator))
	m.custKpis = analyticsv1.NewAnalyticsServiceClient(m.analytics.Conn(customer))
	m.anonKpis = analyticsv1.NewAnalyticsServiceClient(m.analytics.Conn(auth.Identity{}))
	return m
}

func bookingSpec(c bookingapp.Config) serve.Spec {
	s := bookingapp.Spec()
	s.Register = func(ctx context.Context, d serve.Deps) error { return bookingapp.Register(ctx, d, c) }
	return s
}

func newPool(t *testing.T, url, schema string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxutil.NewPool(url, pgxutil.PoolConfig{Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// sourceClients returns clients of the sources' event streams, as a service calls them.
func (m *mesh) sourceClients() map[string]eventsv1.EventStreamServiceClient {
	return map[string]eventsv1.EventStreamServiceClient{
		"booking": eventsv1.NewEventStreamServiceClient(m.booking.Conn(service)),
		"fare":    eventsv1.NewEventStreamServiceClient(m.fare.Conn(service)),
		"payment": eventsv1.NewEventStreamServiceClient(m.payment.Conn(service)),
	}
}

func eur(n int64) *typev1.Money { return &typev1.Money{AmountMinor: n, CurrencyCode: "EUR"} }

// refundAll is 100 % back a day ahead.
func refundAll() *bookingv1.CancellationPolicy {
	return &bookingv1.CancellationPolicy{Rules: []*bookingv1.CancellationRule{{MinNotice: durationpb.New(24 * time.Hour), RefundBps: 10000}}}
}

func (m *mesh) rateCard(t *testing.T, key *farev1.ProductKey, unit int64) {
	t.Helper()
	_, err := m.fareOps.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: &farev1.RateCard{
		ProductKey: key, CurrencyCode: "EUR",
		Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(unit)}},
	}})
	if err != nil {
		t.Fatalf("create rate card: %v", err)
	}
}

// property creates a Berlin hotel with 10 doubles and 5 singles (15 rooms a night) and
// prices its doubles at 90.00 EUR a night.
func (m *mesh) property(t *testing.T) *bookingv1.Property {
	t.Helper()
	resp, err := m.inventory.CreateProperty(grpctest.Context(t), &bookingv1.CreatePropertyRequest{Property: &bookingv1.Property{
		Name: "Hotel Adlon", City: "berlin", Address: "Unter den Linden 77",
		Location: &typev1.GeoPoint{Latitude: 52.5, Longitude: 13.38}, TimeZone: "UTC",
		RoomTypes: []*bookingv1.RoomType{
			{Name: "double", NightlyCapacity: 10, MaxGuests: 2, CancellationPolicy: refundAll()},
			{Name: "single", NightlyCapacity: 5, MaxGuests: 1},
		},
	}})
	if err != nil {
		t.Fatalf("create property: %v", err)
	}
	p := resp.GetProperty()
	m.rateCard(t, &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{PropertyId: p.GetId(), RoomType: "double"}}}, 9000)
	return p
}

// departure creates LH FRA → JFK leaving at dep with 100 economy and 4 business seats,
// economy at 100.00 EUR.
func (m *mesh) departure(t *testing.T, dep time.Time) *bookingv1.Departure {
	t.Helper()
	resp, err := m.inventory.CreateDeparture(grpctest.Context(t), &bookingv1.CreateDepartureRequest{Departure: &bookingv1.Departure{
		Mode: bookingv1.TransportMode_TRANSPORT_MODE_FLIGHT, Carrier: "LH", Number: "400", Origin: "FRA", Destination: "JFK",
		DepartureTime: timestamppb.New(dep), ArrivalTime: timestamppb.New(dep.Add(8 * time.Hour)), OriginTimeZone: "Europe/Berlin",
		FareClasses: []*bookingv1.FareClass{
			{Name: "economy", Capacity: 100, CancellationPolicy: refundAll()},
			{Name: "business", Capacity: 4},
		},
	}})
	if err != nil {
		t.Fatalf("create departure: %v", err)
	}
	m.rateCard(t, &farev1.ProductKey{Product: &farev1.ProductKey_Seat{Seat: &farev1.SeatProduct{
		Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "economy"}}}, 10000)
	return resp.GetDeparture()
}

func date(t time.Time) *typev1.Date {
	y, mo, d := t.UTC().Date()
	return &typev1.Date{Year: int32(y), Month: int32(mo), Day: int32(d)}
}

func (m *mesh) hold(t *testing.T, r *bookingv1.Reservation) *bookingv1.Reservation {
	t.Helper()
	resp, err := m.custRes.CreateReservation(grpctest.Context(t), &bookingv1.CreateReservationRequest{Reservation: r})
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	return resp.GetReservation()
}

func (m *mesh) stay(t *testing.T, propertyID string, rooms int32, in, out time.Time) *bookingv1.Reservation {
	t.Helper()
	return m.hold(t, &bookingv1.Reservation{
		Item: &bookingv1.Reservation_Stay{Stay: &bookingv1.StayItem{PropertyId: propertyID, RoomType: "double",
			CheckInDate: date(in), CheckOutDate: date(out), GuestCount: rooms}},
		Quantity: rooms, Travelers: []*bookingv1.Traveler{{FullName: "Ada"}},
	})
}

func (m *mesh) seats(t *testing.T, departureID string, n int32) *bookingv1.Reservation {
	t.Helper()
	travelers := make([]*bookingv1.Traveler, n)
	for i := range travelers {
		travelers[i] = &bookingv1.Traveler{FullName: "Traveller"}
	}
	return m.hold(t, &bookingv1.Reservation{
		Item:     &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{DepartureId: departureID, FareClass: "economy"}},
		Quantity: n, Travelers: travelers,
	})
}

func (m *mesh) confirm(t *testing.T, id string) *bookingv1.Reservation {
	t.Helper()
	resp, err := m.custRes.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: id})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	return resp.GetReservation()
}

func (m *mesh) cancel(t *testing.T, id string) *bookingv1.Reservation {
	t.Helper()
	resp, err := m.custRes.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: id, Reason: "changed plans"})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	return resp.GetReservation()
}

// pay authorizes amount on a new payment method from token (a simulator test token);
// declined authorizations are what some tests want, so their error is returned.
func (m *mesh) pay(t *testing.T, token string, amount int64) (*paymentv1.Payment, error) {
	t.Helper()
	pm, err := m.payments.CreatePaymentMethod(grpctest.Context(t), &paymentv1.CreatePaymentMethodRequest{
		CustomerId: customer.Subject, Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: token},
		RequestId: ids.New()})
	if err != nil {
		t.Fatalf("create payment method: %v", err)
	}
	resp, err := m.payments.AuthorizePayment(grpctest.Context(t), &paymentv1.AuthorizePaymentRequest{
		PaymentMethodId: pm.GetPaymentMethod().GetId(), Amount: eur(amount), Reference: "test", RequestId: ids.New()})
	return resp.GetPayment(), err
}

// total queries the whole range [from, to] ungrouped.
func (m *mesh) query(t *testing.T, from, to time.Time, g analyticsv1.Granularity, by analyticsv1.Dimension) []*analyticsv1.KpiRow {
	t.Helper()
	resp, err := m.kpis.QueryKpis(grpctest.Context(t), &analyticsv1.QueryKpisRequest{StartDate: date(from), EndDate: date(to),
		Granularity: g, GroupBy: by})
	if err != nil {
		t.Fatalf("query kpis: %v", err)
	}
	return resp.GetRows()
}

// waitCursor waits until analytics' consumer of source has applied the event of the
// source's newest sequence.
func waitApplied(t *testing.T, pool *pgxpool.Pool, source string, cond func(consumer.Position) bool) {
	t.Helper()
	grpctest.Eventually(t, 20*time.Second, "analytics applied "+source+"'s events", func() bool {
		p, err := consumer.Cursor(context.Background(), pool, "analytics-from-"+source, source)
		return err == nil && cond(p)
	})
}
