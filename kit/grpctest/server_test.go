package grpctest_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/serve"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// migrations make the echo service's table, and the outbox's for its events.
var migrations = pgxutil.MustMergeMigrations(fstest.MapFS{
	"0001_notes.sql": {Data: []byte("CREATE TABLE notes (body text NOT NULL);")},
}, outbox.Migrations)

// echo answers UnaryCall with the caller's subject (when asked to fill the username) and
// the number of rows of its notes table (as the OAuth scope, a free string field), and
// fails with the code and message the request carries.
type echo struct {
	testgrpc.UnimplementedTestServiceServer
	d serve.Deps
}

func (e echo) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	var notes string
	if err := e.d.Pool.QueryRow(ctx, "SELECT count(*)::text FROM notes").Scan(&notes); err != nil {
		return nil, err
	}
	resp := &testgrpc.SimpleResponse{OauthScope: notes}
	if id, ok := auth.FromContext(ctx); ok && req.GetFillUsername() {
		resp.Username = id.Subject + "/" + string(id.Role)
	}
	return resp, nil
}

// echoSpec describes the echo service; got receives the Deps its Register was given.
func echoSpec(got *serve.Deps) serve.Spec {
	return serve.Spec{Name: "echo", Migrations: migrations, EventTypes: []string{"echo.note.added"},
		Register: func(ctx context.Context, d serve.Deps) error {
			*got = d
			testgrpc.RegisterTestServiceServer(d.Server.GRPC, echo{d: d})
			return nil
		}}
}

var customer = auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}

func call(t *testing.T, conn *grpc.ClientConn) (*testgrpc.SimpleResponse, error) {
	t.Helper()
	return testgrpc.NewTestServiceClient(conn).UnaryCall(grpctest.Context(t), &testgrpc.SimpleRequest{FillUsername: true})
}

// TestStartGivesTheDepsOfAProcess shows the service gets a migrated database of its own,
// the signer every harness server shares, and, as it declares event types, the runner's
// event log with the event stream served.
func TestStartGivesTheDepsOfAProcess(t *testing.T) {
	t.Parallel()
	var d serve.Deps
	s := grpctest.Start(t, echoSpec(&d))
	if d.Server == nil || d.Pool != s.Pool || d.Logger == nil || d.Telemetry == nil || d.Auth == nil {
		t.Fatalf("deps %+v: want a server, the server's pool, a logger, telemetry and a signer", d)
	}
	if d.Events == nil || d.EventStream == nil {
		t.Fatal("a spec with event types got no event log")
	}
	var schema string
	if err := s.Pool.QueryRow(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil || schema != "echo" {
		t.Fatalf("schema %q (%v), want echo", schema, err)
	}
	if _, err := d.Auth.Verify(mustSign(t, grpctest.Signer(), customer)); err != nil {
		t.Fatalf("the service does not accept grpctest.Signer's tokens: %v", err)
	}
	stream, err := eventsv1.NewEventStreamServiceClient(s.Conn(customer)).Subscribe(grpctest.Context(t), &eventsv1.SubscribeRequest{Service: "echo"})
	if err == nil {
		_, err = stream.Header()
	}
	if status.Code(err) == codes.Unimplemented {
		t.Fatalf("the event stream is not served: %v", err)
	}
}

// TestStartAFreshDatabaseEachTime shows two servers of one spec get distinct databases,
// and WithPool puts a second one on the first one's.
func TestStartAFreshDatabaseEachTime(t *testing.T) {
	t.Parallel()
	var d serve.Deps
	first := grpctest.Start(t, echoSpec(&d))
	if _, err := first.Pool.Exec(t.Context(), "INSERT INTO notes VALUES ('hello')"); err != nil {
		t.Fatal(err)
	}
	fresh := grpctest.Start(t, echoSpec(&d))
	same := grpctest.Start(t, echoSpec(&d), grpctest.WithPool(first.Pool))
	for _, c := range []struct {
		name  string
		s     *grpctest.Server
		notes string
	}{{"first", first, "1"}, {"fresh", fresh, "0"}, {"same", same, "1"}} {
		resp, err := call(t, c.s.Conn(customer))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.GetOauthScope() != c.notes {
			t.Errorf("%s server sees %s notes, want %s", c.name, resp.GetOauthScope(), c.notes)
		}
	}
}

// TestConnCallsAsTheIdentity shows the caller's token reaches the service, that the zero
// identity calls without one, and that a token the servers do not trust is refused.
func TestConnCallsAsTheIdentity(t *testing.T) {
	t.Parallel()
	var d serve.Deps
	s := grpctest.Start(t, echoSpec(&d))
	resp, err := call(t, s.Conn(customer))
	if err != nil || resp.GetUsername() != "cust-1/customer" {
		t.Fatalf("as cust-1: %v, %v", resp.GetUsername(), err)
	}
	if s.Conn(customer) != s.Conn(customer) {
		t.Error("two connections for one identity")
	}
	resp, err = call(t, s.Conn(auth.Identity{}))
	if err != nil || resp.GetUsername() != "" {
		t.Fatalf("anonymous: %q, %v", resp.GetUsername(), err)
	}
	resp, err = call(t, grpctest.Dial(t, s.Addr, auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	if err != nil || resp.GetUsername() != "ops/operator" {
		t.Fatalf("dialled as ops: %q, %v", resp.GetUsername(), err)
	}
	other, err := auth.NewSigner("not-the-grpctest-secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(t, grpctest.Dial(t, s.Addr, auth.Identity{}, other.DialOption(customer)))
	grpctest.WantCode(t, err, codes.Unauthenticated)
}

// TestStopEndsTheProcess shows a stopped server refuses calls as a dead process does, and
// that Stop may be called again (the test's end does).
func TestStopEndsTheProcess(t *testing.T) {
	t.Parallel()
	var d serve.Deps
	s := grpctest.Start(t, echoSpec(&d))
	conn := s.Conn(customer)
	if _, err := call(t, conn); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	grpctest.WantCode(t, err, codes.Unavailable)
	_, err = testgrpc.NewTestServiceClient(grpctest.Dial(t, s.Addr, customer)).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	grpctest.WantCode(t, err, codes.Unavailable)
}

// TestStartFailsWhenRegisterFails shows a Register error fails the test.
func TestStartFailsWhenRegisterFails(t *testing.T) {
	t.Parallel()
	failed, msg := outcome(func(tb testing.TB) {
		ft := &cleanupTB{fakeTB: tb.(*fakeTB), t: t}
		grpctest.Start(ft, serve.Spec{Name: "echo", Migrations: migrations, Register: func(context.Context, serve.Deps) error {
			return errors.New("no fare address")
		}})
	})
	if !failed || msg != "grpctest: register echo: no fare address" {
		t.Fatalf("failed %v with %q, want the register error", failed, msg)
	}
}

// cleanupTB is a fakeTB whose database and cleanups are the real test's.
type cleanupTB struct {
	*fakeTB
	t *testing.T
}

func (c *cleanupTB) Cleanup(f func())          { c.t.Cleanup(f) }
func (c *cleanupTB) Context() context.Context  { return c.t.Context() }
func (c *cleanupTB) Errorf(f string, a ...any) { c.t.Errorf(f, a...) }
func (c *cleanupTB) Fatal(a ...any)            { c.fakeTB.Fatalf("%v", a...) }
func (c *cleanupTB) Name() string              { return c.t.Name() }

func mustSign(t *testing.T, s *auth.Signer, id auth.Identity) string {
	t.Helper()
	token, err := s.Sign(id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return token
}
