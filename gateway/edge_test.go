package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
)

// startEdge runs the gateway with edge checks in front of a live billing server.
func startEdge(t *testing.T, rate float64, burst int) (*httptest.Server, *billing, *auth.Signer) {
	t.Helper()
	b := &billing{requestIDs: make(chan string, 100)}
	addr := serveBackend(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, b) })
	signer, err := auth.NewSigner("gateway-test-secret-16+")
	if err != nil {
		t.Fatal(err)
	}
	return serveGateway(t, addr, Config{Auth: signer, RateLimit: rate, RateBurst: burst}), b, signer
}

func bearer(t *testing.T, s *auth.Signer, subject string) http.Header {
	t.Helper()
	tok, err := s.Sign(auth.Identity{Subject: subject, Role: auth.RoleCustomer}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func TestEdgeRefusesBadTokensBeforeTheService(t *testing.T) {
	t.Parallel()
	hts, b, signer := startEdge(t, 0, 0)
	other, _ := auth.NewSigner("another-secret-16+bytes")
	forged, _ := other.Sign(auth.Identity{Subject: "c1", Role: auth.RoleOperator}, time.Minute)
	for _, h := range []string{"Bearer " + forged, "Bearer nonsense", "Basic dXNlcjpwdw=="} {
		resp, body := do(t, "GET", hts.URL+"/v1/bills/b-1", "", http.Header{"Authorization": {h}})
		if resp.StatusCode != http.StatusUnauthorized || body["code"] != float64(16) {
			t.Errorf("Authorization %.20q: %d %v, want 401 UNAUTHENTICATED", h, resp.StatusCode, body)
		}
	}
	select {
	case id := <-b.requestIDs:
		t.Errorf("a request with a bad token reached the service (request id %s)", id)
	default:
	}
	if resp, _ := do(t, "GET", hts.URL+"/v1/bills/b-1", "", bearer(t, signer, "c1")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a valid token: %d, want the service's 404", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", hts.URL+"/v1/bills/b-2", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401 at the edge", resp.StatusCode)
	}
}

func TestEdgeRateLimitsEachCaller(t *testing.T) {
	t.Parallel()
	hts, _, signer := startEdge(t, 0.5, 3) // 3 at once, then one every 2 s
	busy := bearer(t, signer, "busy")
	for i := 0; i < 3; i++ {
		if resp, _ := do(t, "GET", hts.URL+"/v1/bills/b-1", "", busy); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp, body := do(t, "GET", hts.URL+"/v1/bills/b-1", "", busy)
	if resp.StatusCode != http.StatusTooManyRequests || body["code"] != float64(8) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the burst: %d %v Retry-After=%q, want 429 RESOURCE_EXHAUSTED with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp, _ := do(t, "GET", hts.URL+"/v1/bills/b-1", "", bearer(t, signer, "quiet")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another caller was limited too: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", hts.URL+"/healthz", "", busy); resp.StatusCode == http.StatusTooManyRequests {
		t.Error("/healthz is rate limited")
	}
}

func TestLimiterRefills(t *testing.T) {
	l := newLimiter(10, 2) // 2 at once, one every 100 ms
	t0 := time.Unix(1000, 0)
	if l.take("a", t0) != 0 || l.take("a", t0) != 0 {
		t.Fatal("the burst was refused")
	}
	near := func(got, want time.Duration) bool { return (got - want).Abs() < time.Microsecond }
	if wait := l.take("a", t0); !near(wait, 100*time.Millisecond) {
		t.Errorf("third at once: wait %v, want 100ms", wait)
	}
	if wait := l.take("a", t0.Add(50*time.Millisecond)); !near(wait, 50*time.Millisecond) {
		t.Errorf("after 50 ms: wait %v, want 50ms", wait)
	}
	if wait := l.take("a", t0.Add(100*time.Millisecond)); wait != 0 {
		t.Errorf("after 100 ms: wait %v, want none", wait)
	}
	l.take("b", t0.Add(2*time.Minute)) // sweeps: a is full again and dropped
	if _, ok := l.buckets["a"]; ok {
		t.Error("an idle, refilled bucket was kept")
	}
	if newLimiter(0, 5) != nil {
		t.Error("rate 0 must disable the limit")
	}
}

func TestTheEdgeNeedsTheSigner(t *testing.T) {
	services := map[string]string{}
	for name := range handlers {
		services[name] = "127.0.0.1:9" // dialed lazily, never called
	}
	_, err := New(context.Background(), Config{Services: services}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil {
		t.Error("a gateway without an auth signer was accepted")
	}
}
