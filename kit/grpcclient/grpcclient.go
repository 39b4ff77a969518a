// Package grpcclient dials other Waybill services: by configured address, with trace
// propagation, a deadline on every call, and retries only for methods declared idempotent
// (through gRPC's service config, so retries are transparent and bounded).
package grpcclient

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Options configures a connection.
type Options struct {
	// Timeout is the deadline given to calls whose context has none. Default 5s.
	Timeout time.Duration
	// Idempotent lists full method names ("/pkg.Service/Method") or whole services
	// ("/pkg.Service/") that may be retried on UNAVAILABLE. Reads and calls carrying a
	// request id are idempotent; nothing else is retried.
	Idempotent []string
	// MaxAttempts bounds retries of idempotent calls, counting the first. Default 3.
	MaxAttempts int
}

// Dial creates a client connection to target ("host:port"). The connection is lazy: it
// connects on first use and reconnects on its own.
func Dial(target string, o Options, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	sc, err := serviceConfig(o)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithDefaultServiceConfig(sc),
		grpc.WithChainUnaryInterceptor(deadline(o.Timeout)),
		// gRPC's default reconnect wait grows to two minutes; a peer that comes back
		// should be seen within seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	conn, err := grpc.NewClient(target, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

// deadline gives every unary call without a deadline the default one. (The request id
// of the call being served travels on its own: kit/grpcserver puts it in the handler's
// outgoing metadata.)
func deadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

type methodName struct {
	Service string `json:"service"`
	Method  string `json:"method,omitempty"`
}

// serviceConfig builds the JSON service config declaring the retry policy for the
// idempotent methods.
func serviceConfig(o Options) (string, error) {
	var names []methodName
	for _, m := range o.Idempotent {
		svc, method, err := splitMethod(m)
		if err != nil {
			return "", err
		}
		names = append(names, methodName{Service: svc, Method: method})
	}
	cfg := map[string]any{"loadBalancingConfig": []any{map[string]any{"round_robin": map[string]any{}}}}
	if len(names) > 0 {
		cfg["methodConfig"] = []any{map[string]any{
			"name": names,
			"retryPolicy": map[string]any{
				"maxAttempts":          o.MaxAttempts,
				"initialBackoff":       "0.05s",
				"maxBackoff":           "1s",
				"backoffMultiplier":    2,
				"retryableStatusCodes": []string{"UNAVAILABLE"},
			},
		}}
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}

// splitMethod splits "/pkg.Service/Method" (or "/pkg.Service/") into its parts.
func splitMethod(full string) (service, method string, err error) {
	if len(full) < 2 || full[0] != '/' {
		return "", "", fmt.Errorf("grpcclient: bad method name %q, want /pkg.Service/Method", full)
	}
	rest := full[1:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("grpcclient: bad method name %q, want /pkg.Service/Method", full)
}
