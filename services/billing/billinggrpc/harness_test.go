package billinggrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
	"github.com/waybill/waybill/services/billing/billinggrpc"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/billing/internal/providertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testSecret = "billing-test-secret-0123456789"

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

// callCounter counts GetReservationDetails calls made by billing, per target address,
// with a client interceptor on billing's provider connections.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) interceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/waybill.reservation.v1.ReservationProviderService/GetReservationDetails" {
			c.mu.Lock()
			c.calls[cc.Target()]++
			c.mu.Unlock()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func (c *callCounter) reset() {
	c.mu.Lock()
	c.calls = map[string]int{}
	c.mu.Unlock()
}

func (c *callCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

func (c *callCounter) perTarget() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.calls {
		m[k] = v
	}
	return m
}

// env is billing on loopback, started through billinggrpc.RegisterConfig on a fresh
// database, with its providers and clients for each role.
type env struct {
	pool      *pgxpool.Pool
	signer    *auth.Signer
	providers map[string]*providertest.Provider
	calls     *callCounter
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

func newSigner(t testing.TB) *auth.Signer {
	signer, err := auth.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// startProviders starts one test provider per spec, each on its own database.
func startProviders(t testing.TB, signer *auth.Signer, specs []providerSpec) map[string]*providertest.Provider {
	t.Helper()
	out := map[string]*providertest.Provider{}
	for _, s := range specs {
		p, err := providertest.Start(providertest.Options{Name: s.name, Pool: pgtest.NewDB(t, s.name, providertest.Migrations),
			Payload: s.payload, Signer: signer})
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
func start(t testing.TB, tune ...func(*billinggrpc.Config)) *env {
	t.Helper()
	return startWith(t, threeProviders, tune...)
}

// startWith starts the providers of specs and billing configured for them.
func startWith(t testing.TB, specs []providerSpec, tune ...func(*billinggrpc.Config)) *env {
	t.Helper()
	signer := newSigner(t)
	ps := startProviders(t, signer, specs)
	return startBilling(t, signer, newBillingDB(t), ps, providersFlag(specs, ps), tune...)
}

// newBillingDB returns a pool on a fresh, migrated billing database.
func newBillingDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewDB(t, "billing", billingpg.Migrations)
}

// startBilling starts billing on pool with the providers flag.
func startBilling(t testing.TB, signer *auth.Signer, pool *pgxpool.Pool, ps map[string]*providertest.Provider, flag string, tune ...func(*billinggrpc.Config)) *env {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), "billing-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := grpcserver.New(grpcserver.Config{Name: "billing", DefaultTimeout: 10 * time.Second, ShutdownTimeout: time.Second}, logger, tel,
		grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()))
	calls := &callCounter{calls: map[string]int{}}
	cfg := billinggrpc.DefaultConfig()
	cfg.Providers = flag
	cfg.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(calls.interceptor())}
	cfg.FeedReconnect = consumer.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	cfg.BreakerCooldown = 200 * time.Millisecond
	cfg.WatchHeartbeat = 500 * time.Millisecond
	cfg.PaymentAddr = "" // tests of the saga start a payment service and set it
	for _, f := range tune {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := billinggrpc.RegisterConfig(ctx, serve.Deps{Server: srv, Pool: pool, Logger: logger, Telemetry: tel, Auth: signer}, cfg); err != nil {
		cancel()
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	dial := func(opts ...grpc.DialOption) *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	as := func(sub string, role auth.Role) *grpc.ClientConn {
		return dial(signer.DialOption(auth.Identity{Subject: sub, Role: role}))
	}
	opConn := as("ops-anna", auth.RoleOperator)
	custConn := as("cust-1", auth.RoleCustomer)
	return &env{
		pool: pool, signer: signer, providers: ps, calls: calls, addr: lis.Addr().String(), stop: stop,
		operator:  billingv1.NewBillingServiceClient(opConn),
		service:   billingv1.NewBillingServiceClient(as("trip", auth.RoleService)),
		customer:  billingv1.NewBillingServiceClient(custConn),
		customer2: billingv1.NewBillingServiceClient(as("cust-2", auth.RoleCustomer)),
		anon:      billingv1.NewBillingServiceClient(dial()),
		admin:     eventsv1.NewConsumerAdminServiceClient(opConn),
		adminCust: eventsv1.NewConsumerAdminServiceClient(custConn),
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
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

// wantCode fails unless err has code.
func wantCode(t testing.TB, err error, code codes.Code) {
	t.Helper()
	if got := grpcstatus.Code(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
}

// wantReason fails unless err has code and an ErrorInfo with reason.
func wantReason(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	wantCode(t, err, code)
	for _, d := range grpcstatus.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			if ei.GetReason() != reason {
				t.Fatalf("reason = %s (%v), want %s", ei.GetReason(), err, reason)
			}
			return
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
}

// wantField fails unless err is INVALID_ARGUMENT with a BadRequest naming field.
func wantField(t testing.TB, err error, field string) {
	t.Helper()
	st := grpcstatus.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v (%v), want InvalidArgument naming %s", st.Code(), err, field)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
				t.Fatalf("field = %q (%s), want %q", v.GetField(), v.GetDescription(), field)
			}
		}
	}
	t.Fatalf("no BadRequest field violation in %v", err)
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
	resp, err := e.customer.CreateBill(ctxT(t), &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR"})
	if err != nil {
		t.Fatalf("CreateBill: %v", err)
	}
	return resp.GetBill()
}

// add adds a reservation to a bill as the operator.
func (e *env) add(t testing.TB, billID string, kind reservationv1.Kind, resID string) *billingv1.AddBillItemResponse {
	t.Helper()
	resp, err := e.operator.AddBillItem(ctxT(t), &billingv1.AddBillItemRequest{BillId: billID, Kind: kind, ReservationId: resID})
	if err != nil {
		t.Fatalf("AddBillItem(%s): %v", resID, err)
	}
	return resp
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
