// Package gateway is Waybill's REST front: it serves every public gRPC API as JSON over
// HTTP through the generated grpc-gateway handlers (server streams as newline-delimited
// JSON), the OpenAPI 3 document at /openapi.json and its reference page at /docs, an
// aggregate health check at /healthz and Prometheus metrics at /metrics.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
)

// Defaults are the gateway's default listen port and backend addresses.
type Defaults struct {
	// HTTPPort is the default loopback HTTP port.
	HTTPPort int
	// Services maps each service name to its default gRPC address.
	Services map[string]string
}

// Config configures the gateway.
type Config struct {
	// HTTPAddr is the listen address.
	HTTPAddr string
	// Services maps each service name to its gRPC address.
	Services map[string]string
	// Timeout is the deadline of a unary call made for a request without one.
	Timeout time.Duration
	// Auth verifies bearer tokens at the edge (required): every route but the public
	// ones (publicRoutes) needs a valid token. Services verify tokens themselves too.
	Auth *auth.Signer
	// RateLimit is each caller's sustained requests per second on the routes that need a
	// token; 0 disables the limit. RateBurst is how many requests a caller may send at
	// once.
	RateLimit float64
	RateBurst int
	// MaxBodyBytes caps request bodies (DefaultMaxBodyBytes when 0): a larger one is
	// refused with 413 without being read past the cap.
	MaxBodyBytes int64
}

// DefaultMaxBodyBytes is the default cap of request bodies: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Gateway is the REST front for the services.
type Gateway struct {
	logger  *slog.Logger
	tel     *telemetry.Telemetry
	conns   map[string]*grpc.ClientConn
	handler http.Handler
}

// New dials every service (lazily: a service that is down answers 503 until it is up)
// and builds the HTTP handler.
func New(ctx context.Context, cfg Config, logger *slog.Logger, tel *telemetry.Telemetry) (*Gateway, error) {
	if cfg.Auth == nil {
		return nil, fmt.Errorf("gateway: an auth signer is required to authenticate callers at the edge")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("gateway: the body cap must not be negative, got %d", cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	g := &Gateway{logger: logger, tel: tel, conns: map[string]*grpc.ClientConn{}}
	for name, addr := range cfg.Services {
		conn, err := grpcclient.Dial(addr, grpcclient.Options{Timeout: cfg.Timeout})
		if err != nil {
			g.Close()
			return nil, err
		}
		g.conns[name] = conn
	}
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{}}),
		runtime.WithErrorHandler(g.errorHandler),
		runtime.WithStreamErrorHandler(g.streamErrorHandler),
		runtime.WithMiddlewares(recordRoute, refuseInvalidUTF8),
	)
	if err := register(ctx, mux, g.conns); err != nil {
		g.Close()
		return nil, err
	}
	// Only the routes in publicRoutes are served without a token; the edge checks every
	// other request before the root mux sees it.
	root := http.NewServeMux()
	root.Handle("/v1/", mux)
	root.HandleFunc("GET /openapi.json", serveOpenAPI)
	root.HandleFunc("GET /docs", serveDocs)
	root.HandleFunc("GET /healthz", g.healthz)
	root.Handle("GET /metrics", tel.MetricsHandler())
	root.Handle("GET /app/", webHandler())
	root.HandleFunc("GET /{$}", redirectToApp)
	g.handler = withRequestID(&edge{root: root, signer: cfg.Auth, limiter: newLimiter(cfg.RateLimit, cfg.RateBurst),
		maxBody: cfg.MaxBodyBytes, logger: logger})
	return g, nil
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close closes the backend connections.
func (g *Gateway) Close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
}

// headerMatcher forwards the request id and the standard permanent headers as gRPC
// metadata. A Grpc-Metadata- header naming a key the gateway sets itself (authorization,
// the request id) is dropped: the services read the first value of those keys, so one
// from the caller could stand in for the token the edge verified.
func headerMatcher(key string) (string, bool) {
	if strings.EqualFold(key, "X-Request-Id") {
		return grpcserver.RequestIDHeader, true
	}
	md, ok := runtime.DefaultHeaderMatcher(key)
	if ok && (strings.EqualFold(md, "authorization") || strings.EqualFold(md, grpcserver.RequestIDHeader)) {
		return "", false
	}
	return md, ok
}

// withRequestID gives every request an X-Request-Id (keeping the caller's) and echoes it
// in the response, so a caller can quote it and the logs of every hop share it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = grpcserver.NewID()
			r.Header.Set("X-Request-Id", id)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r)
	})
}

// healthz reports 200 when every backend reports SERVING, 503 otherwise, with each
// backend's status in the JSON body.
func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	statuses := map[string]string{}
	var wg sync.WaitGroup
	for name, conn := range g.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := "UNREACHABLE"
			if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
				st = resp.GetStatus().String()
			}
			mu.Lock()
			statuses[name] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	code := http.StatusOK
	for _, st := range statuses {
		if st != healthpb.HealthCheckResponse_SERVING.String() {
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"services": statuses})
}

// Run runs the gateway process until ctx is done.
func Run(ctx context.Context, d Defaults, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill serve gateway", flag.ContinueOnError)
	fs.SetOutput(stdout)
	httpAddr := fs.String("http-addr", fmt.Sprintf("127.0.0.1:%d", d.HTTPPort), "HTTP listen address")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of backend calls for requests without one")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	authOpts := auth.DefaultOptions()
	authOpts.Secret = serve.DevAuthSecret
	authOpts.Flags(fs) // --auth-secret, --auth-issuer, --auth-audience, --auth-jwks, ...
	rateLimit := fs.Float64("rate-limit", 200, "requests per second each caller (token subject, or client address) may sustain; 0 disables")
	rateBurst := fs.Int("rate-burst", 400, "requests a caller may send at once above the rate")
	maxBody := fs.Int64("max-body-bytes", DefaultMaxBodyBytes, "largest request body accepted, in bytes; a larger one is refused with 413 without being read")
	pprofAddr := fs.String("pprof-addr", "", "listen address serving the Go runtime's profiles under /debug/pprof/, apart from the public HTTP address; empty disables")
	names := make([]string, 0, len(d.Services))
	for n := range d.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	addrs := map[string]*string{}
	for _, n := range names {
		addrs[n] = fs.String(n+"-addr", d.Services[n], "gRPC address of the "+n+" service")
	}
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	logger, err := serve.Logger(stdout, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With(slog.String("service", "gateway"))
	logger.Info("config", config.Attrs(fs)...)

	tel, err := telemetry.Setup(ctx, "gateway", getenv)
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()

	authOpts.Logger = logger
	signer, err := auth.New(authOpts)
	if err != nil {
		return err
	}
	cfg := Config{HTTPAddr: *httpAddr, Services: map[string]string{}, Timeout: *timeout,
		Auth: signer, RateLimit: *rateLimit, RateBurst: *rateBurst, MaxBodyBytes: *maxBody}
	for n, a := range addrs {
		cfg.Services[n] = *a
	}
	g, err := New(ctx, cfg, logger, tel)
	if err != nil {
		return err
	}
	defer g.Close()

	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	errc := make(chan error, 2)
	if *pprofAddr != "" {
		plis, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			lis.Close()
			return fmt.Errorf("listen %s: %w", *pprofAddr, err)
		}
		mux := http.NewServeMux()
		grpcserver.HandlePprof(mux)
		psrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		defer psrv.Close()
		go func() {
			if err := psrv.Serve(plis); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		logger.Info("serving profiles", slog.String("pprof", plis.Addr().String()))
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { errc <- srv.Serve(lis) }()
	logger.Info("serving", slog.String("http", lis.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
