package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/telemetry"
)

// serveBackend serves a gRPC server on loopback for the gateway to call, with the
// services register adds, until the test ends, and returns its address.
func serveBackend(tb testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	register(srv)
	go srv.Serve(lis)
	tb.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// newGateway builds a gateway from cfg until the test ends. Every service it routes goes
// to addr unless cfg.Services names it; Timeout defaults to 2 s and Auth to testSigner.
func newGateway(tb testing.TB, addr string, cfg Config) *Gateway {
	tb.Helper()
	services := map[string]string{}
	for name := range handlers {
		services[name] = addr
	}
	for name, a := range cfg.Services {
		services[name] = a
	}
	cfg.Services = services
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Auth == nil {
		cfg.Auth = testSigner
	}
	tel, err := telemetry.Setup(context.Background(), "gateway-test", func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), tel)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return g
}

// serveGateway is newGateway served over HTTP on loopback until the test ends.
func serveGateway(tb testing.TB, addr string, cfg Config) *httptest.Server {
	tb.Helper()
	hts := httptest.NewServer(newGateway(tb, addr, cfg).Handler())
	tb.Cleanup(hts.Close)
	return hts
}

// testSigner verifies the tokens of the gateways newGateway builds without Config.Auth.
var testSigner = func() *auth.Signer {
	s, err := auth.NewSigner("gateway-start-secret-16+")
	if err != nil {
		panic(err)
	}
	return s
}()
