package grpctest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
)

// shutdownTimeout bounds a test server's graceful stop: a test that stops a server with
// a stream still open should not wait a deployment's ten seconds for it.
const shutdownTimeout = time.Second

// Option changes how Start starts a server.
type Option func(*options)

type options struct {
	pool       *pgxpool.Pool
	logger     *slog.Logger
	serverOpts []grpc.ServerOption
}

// WithPool serves on pool instead of a fresh database: a second process on the first
// one's database, or a pool the test configured itself (a tracer, a connection limit).
// Its search_path must be the service's schema, as pgtest.NewDB and pgxutil.NewPool set.
func WithPool(pool *pgxpool.Pool) Option { return func(o *options) { o.pool = pool } }

// WithLogger gives the server and the service this logger; by default logs are dropped.
func WithLogger(logger *slog.Logger) Option { return func(o *options) { o.logger = logger } }

// WithServerOptions appends options to the server's own, for example a CallCounter's
// ServerOption. Interceptors run after the server's and the token check.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.serverOpts = append(o.serverOpts, opts...) }
}

// Server is a service started by Start, serving on loopback until Stop or the end of the
// test.
type Server struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	// Pool is the service's database pool: a fresh database unless WithPool gave one.
	Pool *pgxpool.Pool

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
	once   sync.Once

	mu    sync.Mutex
	conns map[auth.Identity]*grpc.ClientConn
}

// Start starts the service spec describes, as kit/serve runs it in a process: a
// grpcserver.Server that verifies tokens signed with Secret, a database holding the
// schema spec.Name with spec.Migrations applied (pgtest.NewDB), and, when spec declares
// EventTypes, the service's outbox log and event stream in Deps.Events and
// Deps.EventStream. It calls spec.Register with those Deps, serves on a loopback port
// and stops the server when the test ends. spec's ports and flags are not used. The
// package's TestMain should call pgtest.Main.
func Start(t testing.TB, spec serve.Spec, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.pool == nil {
		o.pool = pgtest.NewDB(t, spec.Name, spec.Migrations)
	}
	tel, err := sharedTelemetry()
	if err != nil {
		t.Fatalf("grpctest: telemetry: %v", err)
	}
	signer := Signer()
	srv := grpcserver.New(grpcserver.Config{Name: spec.Name, ShutdownTimeout: shutdownTimeout}, o.logger, tel,
		append([]grpc.ServerOption{
			grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()),
		}, o.serverOpts...)...)

	ctx, cancel := context.WithCancel(context.Background())
	d := serve.Deps{Server: srv, Pool: o.pool, Logger: o.logger, Telemetry: tel, Auth: signer}
	if len(spec.EventTypes) > 0 {
		// With Events unset, EventLog builds the log, its reader and the stream server
		// the way the runner does, and runs them until ctx ends.
		d.Events, d.EventStream = d.EventLog(ctx, spec.Name, spec.EventTypes)
	}
	if err := spec.Register(ctx, d); err != nil {
		cancel()
		t.Fatalf("grpctest: register %s: %v", spec.Name, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("grpctest: listen: %v", err)
	}
	s := &Server{Addr: lis.Addr().String(), Pool: o.pool, t: t, cancel: cancel, done: make(chan error, 1),
		conns: map[auth.Identity]*grpc.ClientConn{}}
	go func() { s.done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(s.Stop)
	t.Cleanup(s.closeConns) // first: streams the test left open end before the server stops
	return s
}

// Stop stops the service and waits until the server has stopped, as when its process
// ends: the database stays, and calls on connections to it fail UNAVAILABLE. Stop may
// be called more than once; the end of the test calls it.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		if err := <-s.done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.t.Errorf("grpctest: serve: %v", err)
		}
	})
}

// Conn returns a connection to the server that calls with a token for id, or without a
// token when id is the zero Identity. Calls with one identity share one connection,
// closed when the test ends. Conn may be called from any goroutine.
func (s *Server) Conn(id auth.Identity) *grpc.ClientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[id]; ok {
		return c
	}
	c, err := newClient(s.Addr, id)
	if err != nil {
		panic(err) // only a malformed option gets here; the address is ours
	}
	s.conns[id] = c
	return c
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

var (
	telOnce sync.Once
	tel     *telemetry.Telemetry
	telErr  error
)

// sharedTelemetry returns the test process's one Telemetry: telemetry.Setup installs
// global providers, so one per process is what a deployment has too.
func sharedTelemetry() (*telemetry.Telemetry, error) {
	telOnce.Do(func() {
		tel, telErr = telemetry.Setup(context.Background(), "grpctest", func(string) string { return "" })
	})
	return tel, telErr
}
