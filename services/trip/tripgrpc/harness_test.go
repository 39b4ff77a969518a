package tripgrpc_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/fare/fareapp"
	"github.com/waybill/waybill/services/matching/matchingapp"
	"github.com/waybill/waybill/services/trip/tripapp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// proxy is a TCP forwarder on loopback in front of a service: trip is configured with
// the proxy's address before the service behind it exists, and a test can cut the
// service off (Down) as a network failure would.
type proxy struct {
	lis    net.Listener
	target atomic.Value // string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newProxy(t testing.TB) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { lis.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		target, _ := p.target.Load().(string)
		if p.down.Load() || target == "" {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// cut closes every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// setDown refuses (true) or forwards (false) connections; going down cuts the open ones.
func (p *proxy) setDown(down bool) {
	p.down.Store(down)
	if down {
		p.cut()
	}
}

// mesh is trip with the real matching, fare and billing services, each on a fresh
// database, on loopback: trip reaches the three through proxies, billing reaches trip
// as its ride provider.
type mesh struct {
	trip, matching, fare, billing *grpctest.Server
	matchingProxy, fareProxy      *proxy
	billingProxy, tripProxy       *proxy
	tripConfig                    tripapp.Config
}

// meshOptions tunes a mesh.
type meshOptions struct {
	trip     func(*tripapp.Config)
	matching func(*matchingapp.Config)
	billing  func(*billingapp.Config)
}

func startMesh(t testing.TB, o meshOptions) *mesh {
	t.Helper()
	m := &mesh{matchingProxy: newProxy(t), fareProxy: newProxy(t), billingProxy: newProxy(t)}
	tripProxy := newProxy(t)
	m.tripProxy = tripProxy

	mc := matchingapp.DefaultConfig()
	mc.FlushInterval, mc.MinOfferTimeout, mc.DispatchPoll = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	mc.OfferHeartbeat, mc.OfferWatchPoll = 300*time.Millisecond, 100*time.Millisecond
	if o.matching != nil {
		o.matching(&mc)
	}
	ms := matchingapp.Spec()
	ms.Register = func(ctx context.Context, d serve.Deps) error { return matchingapp.Register(ctx, d, mc) }
	m.matching = grpctest.Start(t, ms)
	m.matchingProxy.target.Store(m.matching.Addr)

	fc := fareapp.DefaultConfig()
	fc.TripAddr, fc.MatchingAddr = tripProxy.addr(), ""
	fc.Reconnect.Initial, fc.Reconnect.Max = 50*time.Millisecond, 200*time.Millisecond
	m.fare = grpctest.Start(t, fareapp.SpecWith(fc))
	m.fareProxy.target.Store(m.fare.Addr)

	tc := tripapp.DefaultConfig()
	tc.MatchingAddr, tc.FareAddr, tc.BillingAddr = m.matchingProxy.addr(), m.fareProxy.addr(), m.billingProxy.addr()
	tc.Reconnect.Initial, tc.Reconnect.Max = 50*time.Millisecond, 200*time.Millisecond
	tc.TaskPoll, tc.WatchPoll, tc.WatchHeartbeat = 100*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
	tc.SweepInterval = 200 * time.Millisecond
	tc.AccountAddr = "" // no account service unless a test starts one
	if o.trip != nil {
		o.trip(&tc)
	}
	m.tripConfig = tc
	m.trip = grpctest.Start(t, tripapp.SpecWith(tc))
	tripProxy.target.Store(m.trip.Addr)

	bc := billingapp.DefaultConfig()
	bc.Providers = "ride=trip@" + tripProxy.addr()
	bc.PaymentAddr, bc.AccountAddr, bc.FareAddr = "", "", m.fare.Addr
	bc.StandingGrace, bc.StandingBlock = time.Millisecond, time.Millisecond
	if o.billing != nil {
		o.billing(&bc)
	}
	bs := billingapp.Spec()
	bs.Register = func(ctx context.Context, d serve.Deps) error { return billingapp.Register(ctx, d, bc) }
	m.billing = grpctest.Start(t, bs)
	m.billingProxy.target.Store(m.billing.Addr)

	// The ride product's rate card: 3 EUR + 1.50 EUR/km + 0.30 EUR/min, at least 8 EUR.
	_, err := m.fareAs(operator).CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: &farev1.RateCard{
		ProductKey:   &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: "berlin", Product: "standard"}}},
		CurrencyCode: "EUR",
		Pricing: &farev1.RateCard_Ride{Ride: &farev1.RidePricing{
			BaseFare: eur(300), PerKilometer: eur(150), PerMinute: eur(30), MinimumFare: eur(800),
		}},
		DynamicPricing: &farev1.DynamicPricing{MinMultiplierBps: 10000, MaxMultiplierBps: 30000},
	}})
	if err != nil {
		t.Fatalf("CreateRateCard: %v", err)
	}
	return m
}

// restartTrip stops trip, as a crash would (calls on its connections fail), and starts
// it again on the same database: what was committed survives, the rest starts afresh.
func (m *mesh) restartTrip(t testing.TB) {
	t.Helper()
	pool := m.trip.Pool
	m.tripProxy.setDown(true)
	m.trip.Stop()
	m.trip = grpctest.Start(t, tripapp.SpecWith(m.tripConfig), grpctest.WithPool(pool))
	m.tripProxy.target.Store(m.trip.Addr)
	m.tripProxy.setDown(false)
}

func eur(minor int64) *typev1.Money { return &typev1.Money{AmountMinor: minor, CurrencyCode: "EUR"} }

// Identities of the tests.
var (
	operator = auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}
	service  = auth.Identity{Subject: "some-service", Role: auth.RoleService}
	anon     = auth.Identity{}
)

func rider(id string) auth.Identity    { return auth.Identity{Subject: id, Role: auth.RoleCustomer} }
func driverID(id string) auth.Identity { return auth.Identity{Subject: id, Role: auth.RoleDriver} }

func (m *mesh) as(id auth.Identity) tripv1.TripServiceClient {
	return tripv1.NewTripServiceClient(m.trip.Conn(id))
}

func (m *mesh) provider(id auth.Identity) reservationv1.ReservationProviderServiceClient {
	return reservationv1.NewReservationProviderServiceClient(m.trip.Conn(id))
}

func (m *mesh) matchingAs(id auth.Identity) matchingv1.MatchingServiceClient {
	return matchingv1.NewMatchingServiceClient(m.matching.Conn(id))
}

func (m *mesh) fareAs(id auth.Identity) farev1.FareServiceClient {
	return farev1.NewFareServiceClient(m.fare.Conn(id))
}

func (m *mesh) billingAs(id auth.Identity) billingv1.BillingServiceClient {
	return billingv1.NewBillingServiceClient(m.billing.Conn(id))
}

// The places of the tests, in Berlin.
var (
	alexanderplatz = &typev1.GeoPoint{Latitude: 52.5219, Longitude: 13.4132}
	potsdamerPlatz = &typev1.GeoPoint{Latitude: 52.5096, Longitude: 13.3759}
)

var plates atomic.Int64

// driverAt creates a driver serving "standard", online, located at p now.
func (m *mesh) driverAt(t testing.TB, p *typev1.GeoPoint) string {
	t.Helper()
	ctx := grpctest.Context(t)
	resp, err := m.matchingAs(operator).CreateDriver(ctx, &matchingv1.CreateDriverRequest{Driver: &matchingv1.Driver{
		Name: "Dana Driver", City: "berlin",
		Vehicle: &matchingv1.Vehicle{Plate: fmt.Sprintf("B-TR %d", plates.Add(1)), Model: "Toyota Prius", Products: []string{"standard"}},
	}})
	if err != nil {
		t.Fatalf("CreateDriver: %v", err)
	}
	id := resp.GetDriver().GetId()
	d := m.matchingAs(driverID(id))
	if _, err := d.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: id, Online: true}); err != nil {
		t.Fatalf("SetDriverAvailability: %v", err)
	}
	m.locate(t, id, p)
	return id
}

// locate reports driver id at p now.
func (m *mesh) locate(t testing.TB, id string, p *typev1.GeoPoint) {
	t.Helper()
	_, err := m.matchingAs(driverID(id)).UpdateDriverLocation(grpctest.Context(t), &matchingv1.UpdateDriverLocationRequest{
		DriverId: id, Location: &matchingv1.LocationUpdate{Point: p, FixTime: nowTS()},
	})
	if err != nil {
		t.Fatalf("UpdateDriverLocation: %v", err)
	}
}

// request requests a ride from alexanderplatz to potsdamerPlatz for customer.
func (m *mesh) request(t testing.TB, customer string) *tripv1.Trip {
	t.Helper()
	resp, err := m.as(rider(customer)).RequestTrip(grpctest.Context(t), rideRequest(customer, ids.New()))
	if err != nil {
		t.Fatalf("RequestTrip: %v", err)
	}
	return resp.GetTrip()
}

func rideRequest(customer, requestID string) *tripv1.RequestTripRequest {
	return &tripv1.RequestTripRequest{CustomerId: customer, Pickup: alexanderplatz, Dropoff: potsdamerPlatz,
		Product: "standard", City: "berlin", RequestId: requestID}
}

// get reads trip id as an operator in view.
func (m *mesh) get(t testing.TB, id string, view typev1.View) *tripv1.Trip {
	t.Helper()
	resp, err := m.as(operator).GetTrip(grpctest.Context(t), &tripv1.GetTripRequest{TripId: id, View: view})
	if err != nil {
		t.Fatalf("GetTrip: %v", err)
	}
	return resp.GetTrip()
}

// waitStatus waits until trip id has status and returns it.
func (m *mesh) waitStatus(t testing.TB, id string, status tripv1.TripStatus) *tripv1.Trip {
	t.Helper()
	var got *tripv1.Trip
	grpctest.Eventually(t, 30*time.Second, "trip "+status.String(), func() bool {
		got = m.get(t, id, typev1.View_VIEW_STANDARD)
		return got.GetStatus() == status
	})
	return got
}

// accept waits until trip tr's match offers the ride to a driver, makes that driver
// accept it and returns the driver's id.
func (m *mesh) accept(t testing.TB, tr *tripv1.Trip) string {
	t.Helper()
	var offer, driver string
	grpctest.Eventually(t, 30*time.Second, "an offer", func() bool {
		resp, err := m.matchingAs(service).GetMatch(grpctest.Context(t), &matchingv1.GetMatchRequest{MatchId: tr.GetMatchId(), View: typev1.View_VIEW_FULL})
		if err != nil {
			t.Fatalf("GetMatch: %v", err)
		}
		for _, o := range resp.GetMatch().GetOffers() {
			if o.GetStatus() == matchingv1.OfferStatus_OFFER_STATUS_PENDING {
				offer, driver = o.GetId(), o.GetDriverId()
				return true
			}
		}
		return false
	})
	if _, err := m.matchingAs(driverID(driver)).AcceptOffer(grpctest.Context(t), &matchingv1.AcceptOfferRequest{OfferId: offer}); err != nil {
		t.Fatalf("AcceptOffer: %v", err)
	}
	return driver
}

// driverStatus returns driver id's status in matching.
func (m *mesh) driverStatus(t testing.TB, id string) matchingv1.DriverStatus {
	t.Helper()
	resp, err := m.matchingAs(operator).GetDriver(grpctest.Context(t), &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil {
		t.Fatalf("GetDriver: %v", err)
	}
	return resp.GetDriver().GetStatus()
}

// waitDriver waits until driver id has status in matching.
func (m *mesh) waitDriver(t testing.TB, id string, status matchingv1.DriverStatus) {
	t.Helper()
	grpctest.Eventually(t, 30*time.Second, "driver "+status.String(), func() bool { return m.driverStatus(t, id) == status })
}

// assigned requests a ride for customer with a (new) driver waiting at the pickup, and
// waits until the driver offered the ride accepted it and trip applied it.
func (m *mesh) assigned(t testing.TB, customer string) (*tripv1.Trip, string) {
	t.Helper()
	m.driverAt(t, alexanderplatz)
	tr := m.request(t, customer)
	d := m.accept(t, tr)
	return m.waitStatus(t, tr.GetId(), tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED), d
}

// count returns the rows of a table of trip's schema.
func (m *mesh) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := m.trip.Pool.QueryRow(grpctest.Context(t), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func nowTS() *timestamppb.Timestamp { return timestamppb.Now() }
