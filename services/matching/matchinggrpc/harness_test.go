package matchinggrpc_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/matching/matchingapp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// harness is a matching server on loopback, started as matchingapp.Spec describes it on
// a fresh database, with clients for each role.
type harness struct {
	srv      *grpctest.Server
	pool     *pgxpool.Pool
	operator matchingv1.MatchingServiceClient
	service  matchingv1.MatchingServiceClient
	customer matchingv1.MatchingServiceClient
	anon     matchingv1.MatchingServiceClient
}

// testConfig flushes locations every 50 ms, so tests that read them from the database
// wait little.
func testConfig() matchingapp.Config {
	c := matchingapp.DefaultConfig()
	c.FlushInterval = 50 * time.Millisecond
	return c
}

// specWith is matchingapp.Spec with c instead of the default configuration.
func specWith(c matchingapp.Config) serve.Spec {
	s := matchingapp.Spec()
	s.Register = func(ctx context.Context, d serve.Deps) error { return matchingapp.Register(ctx, d, c) }
	return s
}

func start(t testing.TB, opts ...grpctest.Option) *harness {
	t.Helper()
	return startWith(t, testConfig(), opts...)
}

func startWith(t testing.TB, c matchingapp.Config, opts ...grpctest.Option) *harness {
	t.Helper()
	s := grpctest.Start(t, specWith(c), opts...)
	return &harness{
		srv:      s,
		pool:     s.Pool,
		operator: client(s, auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}),
		service:  client(s, auth.Identity{Subject: "trip", Role: auth.RoleService}),
		customer: client(s, auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}),
		anon:     client(s, auth.Identity{}),
	}
}

func client(s *grpctest.Server, id auth.Identity) matchingv1.MatchingServiceClient {
	return matchingv1.NewMatchingServiceClient(s.Conn(id))
}

// as returns a client calling as driver id.
func (h *harness) as(id string) matchingv1.MatchingServiceClient {
	return client(h.srv, auth.Identity{Subject: id, Role: auth.RoleDriver})
}

// count returns the number of rows of a table.
func (h *harness) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var plates atomic.Int64

// newDriver returns a valid driver to create, with a plate of its own.
func newDriver(products ...string) *matchingv1.Driver {
	if len(products) == 0 {
		products = []string{"standard"}
	}
	return &matchingv1.Driver{
		Name: "Dana Driver",
		City: "berlin",
		Vehicle: &matchingv1.Vehicle{
			Plate: fmt.Sprintf("B-WB %d", plates.Add(1)), Model: "Toyota Prius", Products: products,
		},
	}
}

func (h *harness) create(t testing.TB, d *matchingv1.Driver) *matchingv1.Driver {
	t.Helper()
	resp, err := h.operator.CreateDriver(grpctest.Context(t), &matchingv1.CreateDriverRequest{Driver: d})
	if err != nil {
		t.Fatalf("CreateDriver: %v", err)
	}
	return resp.GetDriver()
}

// online creates a driver and takes them online.
func (h *harness) online(t testing.TB, products ...string) *matchingv1.Driver {
	t.Helper()
	d := h.create(t, newDriver(products...))
	resp, err := h.as(d.GetId()).SetDriverAvailability(grpctest.Context(t), &matchingv1.SetDriverAvailabilityRequest{DriverId: d.GetId(), Online: true})
	if err != nil {
		t.Fatalf("SetDriverAvailability: %v", err)
	}
	return resp.GetDriver()
}

// locate reports a fix of driver id, as the driver, at t.
func (h *harness) locate(t testing.TB, id string, lat, lng float64, at time.Time) *matchingv1.UpdateDriverLocationResponse {
	t.Helper()
	resp, err := h.as(id).UpdateDriverLocation(grpctest.Context(t), &matchingv1.UpdateDriverLocationRequest{
		DriverId: id, Location: fix(lat, lng, at),
	})
	if err != nil {
		t.Fatalf("UpdateDriverLocation: %v", err)
	}
	return resp
}

func fix(lat, lng float64, at time.Time) *matchingv1.LocationUpdate {
	return &matchingv1.LocationUpdate{Point: &typev1.GeoPoint{Latitude: lat, Longitude: lng}, FixTime: timestamppb.New(at)}
}
