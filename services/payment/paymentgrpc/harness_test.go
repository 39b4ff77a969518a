package paymentgrpc_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/payment/payment"
	"github.com/waybill/waybill/services/payment/paymentapp"
	"github.com/waybill/waybill/services/payment/paymentgrpc"
	"github.com/waybill/waybill/services/payment/paymentpg"
	"github.com/waybill/waybill/services/payment/simulator"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a test clock that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// logBuffer collects everything the server logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a payment server on loopback, registered through paymentapp.Register, with the
// simulator, a test clock and a crash hook.
type env struct {
	t     *testing.T
	srv   *grpctest.Server
	pool  *pgxpool.Pool
	sim   *simulator.Simulator
	clock *clock
	logs  *logBuffer

	hookMu sync.Mutex
	hook   func(method string) error
}

const lease = 30 * time.Second

func start(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, sim: simulator.New(), clock: &clock{now: time.Now().UTC().Truncate(time.Second)}, logs: &logBuffer{}}
	cfg := paymentapp.DefaultConfig()
	cfg.Adapter, cfg.BackgroundInterval = e.sim, 0
	cfg.Service = payment.Options{
		Now:   e.clock.Now,
		Lease: lease,
		AfterProcessorCall: func(_ context.Context, method string) error {
			e.hookMu.Lock()
			h := e.hook
			e.hookMu.Unlock()
			if h == nil {
				return nil
			}
			return h(method)
		},
	}
	e.srv = grpctest.Start(t, serve.Spec{Name: "payment", Migrations: paymentpg.Migrations, EventTypes: payment.EventTypes,
		Register: func(ctx context.Context, d serve.Deps) error { return paymentapp.Register(ctx, d, cfg) }},
		grpctest.WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	e.pool = e.srv.Pool
	return e
}

// setHook sets the function run after each processor call, before the outcome is recorded.
func (e *env) setHook(h func(method string) error) {
	e.hookMu.Lock()
	defer e.hookMu.Unlock()
	e.hook = h
}

// as returns a client calling with id's token; the zero identity calls anonymously.
func (e *env) as(id auth.Identity) paymentv1.PaymentServiceClient {
	return paymentv1.NewPaymentServiceClient(e.srv.Conn(id))
}

var (
	billing  = auth.Identity{Subject: "billing", Role: auth.RoleService}
	operator = auth.Identity{Subject: "ops", Role: auth.RoleOperator}
	alice    = auth.Identity{Subject: "cust-alice", Role: auth.RoleCustomer}
	bob      = auth.Identity{Subject: "cust-bob", Role: auth.RoleCustomer}
)

func (e *env) svc() paymentv1.PaymentServiceClient { return e.as(billing) }

func eur(n int64) *typev1.Money { return &typev1.Money{AmountMinor: n, CurrencyCode: "EUR"} }

// method adds a payment method for alice from a simulator test token.
func (e *env) method(token string) *paymentv1.PaymentMethod {
	e.t.Helper()
	resp, err := e.svc().CreatePaymentMethod(grpctest.Context(e.t), &paymentv1.CreatePaymentMethodRequest{
		CustomerId: alice.Subject, Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: token}})
	if err != nil {
		e.t.Fatalf("create method %s: %v", token, err)
	}
	return resp.GetPaymentMethod()
}

// authorize authorizes amount on a method and requires success.
func (e *env) authorize(methodID string, amount *typev1.Money) *paymentv1.Payment {
	e.t.Helper()
	resp, err := e.svc().AuthorizePayment(grpctest.Context(e.t), &paymentv1.AuthorizePaymentRequest{
		PaymentMethodId: methodID, Amount: amount, RequestId: payment.NewID()})
	if err != nil {
		e.t.Fatalf("authorize: %v", err)
	}
	return resp.GetPayment()
}

// capture captures amount (nil: all) and requires success.
func (e *env) capture(paymentID string, amount *typev1.Money) *paymentv1.CapturePaymentResponse {
	e.t.Helper()
	resp, err := e.svc().CapturePayment(grpctest.Context(e.t), &paymentv1.CapturePaymentRequest{PaymentId: paymentID, Amount: amount, RequestId: payment.NewID()})
	if err != nil {
		e.t.Fatalf("capture: %v", err)
	}
	return resp
}

// count returns the number of rows of a table.
func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// event is one event in the outbox or the event log.
type event struct {
	Type    string
	Key     string
	Payment *paymentv1.PaymentEvent
	Settle  *paymentv1.SettlementEvent
}

// events returns every event written, in order.
func (e *env) events() []event {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `
SELECT type, key, coalesce(payload_type, ''), payload FROM (
    SELECT 0 AS part, seq AS n, type, key, payload_type, payload FROM event_log
    UNION ALL SELECT 1, id, type, key, payload_type, payload FROM outbox) e
ORDER BY part, n`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var ev event
		var typeURL string
		var payload []byte
		if err := rows.Scan(&ev.Type, &ev.Key, &typeURL, &payload); err != nil {
			e.t.Fatal(err)
		}
		a := &anypb.Any{TypeUrl: typeURL, Value: payload}
		if ev.Type == payment.EventSettlementCompleted {
			ev.Settle = &paymentv1.SettlementEvent{}
			err = a.UnmarshalTo(ev.Settle)
		} else {
			ev.Payment = &paymentv1.PaymentEvent{}
			err = a.UnmarshalTo(ev.Payment)
		}
		if err != nil {
			e.t.Fatalf("event %s payload: %v", ev.Type, err)
		}
		out = append(out, ev)
	}
	return out
}

// eventsOf returns the events of one type.
func (e *env) eventsOf(typ string) []event {
	var out []event
	for _, ev := range e.events() {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// errCrash is what the crash hook returns: the process "dies" between the processor call and
// the commit.
var errCrash = errors.New("simulated crash between processor call and commit")

// marshal returns the wire bytes of a message.
func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var anonymous = auth.Identity{}

// service returns a domain service on the env's database, simulator and clock, for driving
// the background work.
func (e *env) service() *payment.Service {
	store := paymentpg.New(e.pool, paymentpg.Options{EventPayload: paymentgrpc.EventPayload,
		Keys: idempotencypg.Options{Lease: lease, Now: e.clock.Now}})
	return payment.New(store, e.sim, payment.Options{Now: e.clock.Now, Lease: lease})
}
