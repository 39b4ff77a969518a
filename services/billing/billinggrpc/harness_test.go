package billinggrpc_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// kindFerry is a kind the contract does not name yet: billing serves it from
// configuration alone.
const kindFerry = reservationv1.Kind(6)

// providerSpec describes one test provider and the kinds billing routes to it.
type providerSpec struct {
	name    string
	kinds   []string
	payload providertest.Payload
}

// threeProviders is the usual mesh: booking-like seats and stays, trip-like rides, and a
// third provider of a new kind, each publishing a different payload style.
var threeProviders = []providerSpec{
	{"booking", []string{"flight", "train", "bus", "stay"}, providertest.PayloadBooking},
	{"trip", []string{"ride"}, providertest.PayloadTrip},
	{"ferry", []string{"6"}, providertest.PayloadDetails},
}

// detailsMethod is the provider call whose count shows how billing batches its reads.
const detailsMethod = reservationv1.ReservationProviderService_GetReservationDetails_FullMethodName

// env is billing on loopback, started through billingapp.Register on a fresh database,
// with its providers and clients for each role.
type env struct {
	pool      *pgxpool.Pool
	providers map[string]*providertest.Provider
	calls     *grpctest.CallCounter // billing's calls to its providers, by target
	addr      string
	// stop stops this billing process (its database and providers stay).
	stop func()

	operator  billingv1.BillingServiceClient
	service   billingv1.BillingServiceClient
	customer  billingv1.BillingServiceClient // cust-1
	customer2 billingv1.BillingServiceClient // cust-2
	anon      billingv1.BillingServiceClient
	admin     eventsv1.ConsumerAdminServiceClient // as operator
	adminCust eventsv1.ConsumerAdminServiceClient // as cust-1
}

// startProviders starts one test provider per spec, each on its own database.
func startProviders(t testing.TB, specs []providerSpec) map[string]*providertest.Provider {
	t.Helper()
	out := map[string]*providertest.Provider{}
	for _, s := range specs {
		p, err := providertest.Start(providertest.Options{Name: s.name, Pool: pgtest.NewDB(t, s.name, providertest.Migrations),
			Payload: s.payload, Signer: grpctest.Signer()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		out[s.name] = p
	}
	return out
}

// providersFlag builds billing's --providers value for the running providers.
func providersFlag(specs []providerSpec, ps map[string]*providertest.Provider) string {
	var parts []string
	for _, s := range specs {
		for _, k := range s.kinds {
			parts = append(parts, fmt.Sprintf("%s=%s@%s", k, s.name, ps[s.name].Addr()))
		}
	}
	return strings.Join(parts, ",")
}

// start starts three providers and billing.
func start(t testing.TB, tune ...func(*billingapp.Config)) *env {
	t.Helper()
	return startWith(t, threeProviders, tune...)
}

// startWith starts the providers of specs and billing configured for them.
func startWith(t testing.TB, specs []providerSpec, tune ...func(*billingapp.Config)) *env {
	t.Helper()
	ps := startProviders(t, specs)
	return startBilling(t, newBillingDB(t), ps, providersFlag(specs, ps), tune...)
}

// newBillingDB returns a pool on a fresh, migrated billing database.
func newBillingDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewDB(t, "billing", billingpg.Migrations)
}

// startBilling starts billing on pool with the providers flag.
func startBilling(t testing.TB, pool *pgxpool.Pool, ps map[string]*providertest.Provider, flag string, tune ...func(*billingapp.Config)) *env {
	t.Helper()
	calls := &grpctest.CallCounter{}
	cfg := billingapp.DefaultConfig()
	cfg.Providers = flag
	cfg.DialOptions = []grpc.DialOption{calls.DialOption()}
	cfg.FeedReconnect = consumer.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	cfg.BreakerCooldown = 200 * time.Millisecond
	cfg.WatchHeartbeat = 500 * time.Millisecond
	cfg.PaymentAddr = "" // tests of the saga start a payment service and set it
	cfg.AccountAddr = "" // tests of the suspension gate start an account service and set it
	cfg.FareAddr = ""    // tests of rides start a fare event source and set it
	for _, f := range tune {
		f(&cfg)
	}
	spec := billingapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return billingapp.Register(ctx, d, cfg) }
	s := grpctest.Start(t, spec, grpctest.WithPool(pool))
	opConn := s.Conn(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator})
	custConn := s.Conn(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer})
	return &env{
		pool: pool, providers: ps, calls: calls, addr: s.Addr, stop: s.Stop,
		operator:  billingv1.NewBillingServiceClient(opConn),
		service:   billingv1.NewBillingServiceClient(s.Conn(auth.Identity{Subject: "trip", Role: auth.RoleService})),
		customer:  billingv1.NewBillingServiceClient(custConn),
		customer2: billingv1.NewBillingServiceClient(s.Conn(auth.Identity{Subject: "cust-2", Role: auth.RoleCustomer})),
		anon:      billingv1.NewBillingServiceClient(s.Conn(auth.Identity{})),
		admin:     eventsv1.NewConsumerAdminServiceClient(opConn),
		adminCust: eventsv1.NewConsumerAdminServiceClient(custConn),
	}
}

// count returns the number of rows of a table.
func (e *env) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// reserve creates a reservation at provider and returns its id.
func (e *env) reserve(t testing.TB, provider string, r providertest.Reservation) string {
	t.Helper()
	if r.ID == "" {
		r.ID = fmt.Sprintf("%s-%d", provider, seq())
	}
	if r.Status == 0 {
		r.Status = reservationv1.MainStatus_MAIN_STATUS_PENDING
	}
	if r.Title == "" {
		r.Title = "Trip " + r.ID
	}
	if err := e.providers[provider].Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

var seqMu sync.Mutex
var seqN int

func seq() int {
	seqMu.Lock()
	defer seqMu.Unlock()
	seqN++
	return seqN
}

// openBill opens a EUR bill for cust-1 as that customer.
func (e *env) openBill(t testing.TB) *billingv1.Bill {
	t.Helper()
	resp, err := e.customer.CreateBill(grpctest.Context(t), &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR"})
	if err != nil {
		t.Fatalf("CreateBill: %v", err)
	}
	return resp.GetBill()
}

// add adds a reservation to a bill as the operator.
func (e *env) add(t testing.TB, billID string, kind reservationv1.Kind, resID string) *billingv1.AddBillItemResponse {
	t.Helper()
	resp, err := e.operator.AddBillItem(grpctest.Context(t), &billingv1.AddBillItemRequest{BillId: billID, Kind: kind, ReservationId: resID})
	if err != nil {
		t.Fatalf("AddBillItem(%s): %v", resID, err)
	}
	return resp
}
