// Package grpcserver is the gRPC server every Waybill service runs: health checking that
// reports NOT_SERVING until the service's dependencies are ready (and a "liveness" service
// that only says the process answers), connections aged out so that clients rebalance onto
// new replicas, server reflection (so grpcurl works), OpenTelemetry traces and metrics,
// Prometheus /metrics on an HTTP port, structured logs with method, request id and trace
// id, panic recovery, masking of internal errors, a default deadline for calls that arrive
// without one, graceful shutdown, and, when enabled, the Go runtime's profiles under
// /debug/pprof/.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/telemetry"
)

// Config configures a Server.
type Config struct {
	// Name is the service's name, used in logs and in the ErrorInfo domain of its
	// errors ("<name>.waybill.dev", grpcerr.Domain).
	Name string
	// GRPCAddr is the gRPC listen address, for example "127.0.0.1:7001".
	GRPCAddr string
	// HTTPAddr is the listen address of the metrics and health HTTP endpoint; empty
	// disables it.
	HTTPAddr string
	// DefaultTimeout is the deadline applied to unary calls that arrive without one.
	DefaultTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown; calls still running then are cancelled.
	ShutdownTimeout time.Duration
	// Pprof serves the Go runtime's profiles (net/http/pprof) under /debug/pprof/ on
	// the HTTP endpoint. Off by default: profiles reveal internals and cost CPU while
	// they are taken.
	Pprof bool
	// MaxConnectionAge is how long a client connection may take new calls: then the
	// server sends GOAWAY, the client re-resolves the service's address and opens a new
	// connection for its next calls, so replicas added since (an autoscaler's) get their
	// share of the traffic. Calls already running, long-lived streams among them, go on
	// until they end. 0 means DefaultMaxConnectionAge; negative means never. gRPC adds
	// ±10% jitter.
	MaxConnectionAge time.Duration
}

// DefaultMaxConnectionAge is Config.MaxConnectionAge's default.
const DefaultMaxConnectionAge = 5 * time.Minute

// LivenessService is the gRPC health service name that reports SERVING from the moment
// the server serves until it shuts down, whatever the readiness checks say: a liveness
// probe asks it, so a process is restarted when it stops answering, not when its database
// is down (readiness, the empty service name and every registered service's name, takes
// it out of the load balancer then; a restart would not bring the database back).
const LivenessService = "liveness"

// streamWorkers is how many goroutines the server keeps to run calls on. A worker's
// stack stays grown from call to call, where a goroutine per call grows a fresh stack
// on every call (runtime.morestack and copystack were about 7% of booking's CPU). Calls
// that find every worker busy, long-lived streams among them, get a goroutine of their own.
const streamWorkers = 32

// ReadinessCheck reports whether the service can serve; a nil error means ready.
type ReadinessCheck func(ctx context.Context) error

// Server is a gRPC server with Waybill's standard plumbing. Register services on GRPC,
// then call Run.
type Server struct {
	// GRPC is the underlying server; register services on it before Run.
	GRPC *grpc.Server

	cfg    Config
	logger *slog.Logger
	health *health.Server
	tel    *telemetry.Telemetry

	mu       sync.Mutex
	ready    bool
	checks   []ReadinessCheck
	draining chan struct{}
}

// New creates a server. Extra options are appended to the standard ones.
func New(cfg Config, logger *slog.Logger, tel *telemetry.Telemetry, opts ...grpc.ServerOption) *Server {
	if cfg.DefaultTimeout == 0 {
		cfg.DefaultTimeout = 30 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	maxAge := cfg.MaxConnectionAge
	switch {
	case maxAge == 0:
		maxAge = DefaultMaxConnectionAge
	case maxAge < 0:
		maxAge = 0 // keepalive.ServerParameters: infinity
	}
	domain := "waybill.dev"
	if cfg.Name != "" {
		domain = grpcerr.Domain(cfg.Name)
	}
	ic := &interceptors{logger: logger, defaultTimeout: cfg.DefaultTimeout, domain: domain}
	base := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tel.TracerProvider),
			otelgrpc.WithMeterProvider(tel.MeterProvider),
		)),
		grpc.ChainUnaryInterceptor(ic.unary),
		grpc.ChainStreamInterceptor(ic.stream),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// No MaxConnectionAgeGrace: running streams are never cut by the age.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, MaxConnectionAge: maxAge}),
	}
	s := &Server{
		GRPC:     grpc.NewServer(append(base, opts...)...),
		cfg:      cfg,
		logger:   logger,
		health:   health.NewServer(),
		tel:      tel,
		draining: make(chan struct{}),
	}
	healthpb.RegisterHealthServer(s.GRPC, s.health)
	reflection.Register(s.GRPC)
	return s
}

// AddReadinessCheck adds a check that must pass before the server reports SERVING (for
// example a database ping). Checks run again every few seconds while the server runs.
func (s *Server) AddReadinessCheck(c ReadinessCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

// Draining is closed when shutdown begins, so long-lived streams can end cleanly before
// the server stops waiting for them.
func (s *Server) Draining() <-chan struct{} { return s.draining }

// Run listens on the configured addresses and serves until ctx is done, then shuts down
// gracefully.
func (s *Server) Run(ctx context.Context) error {
	lis, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen grpc %s: %w", s.cfg.GRPCAddr, err)
	}
	var httpLis net.Listener
	if s.cfg.HTTPAddr != "" {
		if httpLis, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			lis.Close()
			return fmt.Errorf("listen http %s: %w", s.cfg.HTTPAddr, err)
		}
	}
	return s.Serve(ctx, lis, httpLis)
}

// Serve serves on the given listeners (httpLis may be nil) until ctx is done.
func (s *Server) Serve(ctx context.Context, lis, httpLis net.Listener) error {
	s.setServing(false)
	s.health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	errc := make(chan error, 2)
	go func() { errc <- s.GRPC.Serve(lis) }()

	var httpSrv *http.Server
	if httpLis != nil {
		httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := httpSrv.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchReadiness(watchCtx)

	s.logger.Info("serving", slog.String("grpc", lis.Addr().String()), slog.Any("http", addrOf(httpLis)))
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.shutdown(httpSrv)
	return runErr
}

func (s *Server) shutdown(httpSrv *http.Server) {
	s.logger.Info("shutting down")
	s.health.Shutdown()
	close(s.draining)
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.logger.Warn("graceful shutdown timed out; stopping")
		s.GRPC.Stop()
	}
	if httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(ctx)
	}
}

// watchReadiness runs the readiness checks, quickly until they first pass, then every few
// seconds, and sets the health status of every registered service accordingly.
func (s *Server) watchReadiness(ctx context.Context) {
	interval := 200 * time.Millisecond
	for {
		checkCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.check(checkCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.setServing(err == nil)
		if err != nil {
			s.logger.Debug("not ready", slog.Any("error", err))
			interval = 200 * time.Millisecond
		} else {
			interval = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (s *Server) check(ctx context.Context) error {
	s.mu.Lock()
	checks := append([]ReadinessCheck(nil), s.checks...)
	s.mu.Unlock()
	for _, c := range checks {
		if err := c(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) setServing(ok bool) {
	s.mu.Lock()
	changed := s.ready != ok
	s.ready = ok
	s.mu.Unlock()
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	for name := range s.GRPC.GetServiceInfo() {
		s.health.SetServingStatus(name, st)
	}
	if changed {
		s.logger.Info("health", slog.String("status", st.String()))
	}
}

// Ready reports whether the last readiness check passed.
func (s *Server) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.tel.MetricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if s.cfg.Pprof {
		HandlePprof(mux)
	}
	return mux
}

// HandlePprof registers the Go runtime's profiles (net/http/pprof) on mux under
// /debug/pprof/, for example /debug/pprof/profile?seconds=10 for a CPU profile.
func HandlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}
