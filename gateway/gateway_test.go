package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
)

// billing is a real gRPC billing server for the test: GetBill answers NOT_FOUND and
// records the request id it received; everything else is UNIMPLEMENTED.
type billing struct {
	billingv1.UnimplementedBillingServiceServer
	requestIDs chan string
}

func (b *billing) GetBill(ctx context.Context, req *billingv1.GetBillRequest) (*billingv1.GetBillResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.requestIDs <- strings.Join(md.Get("x-request-id"), ",")
	return nil, status.Errorf(codes.NotFound, "bill %q not found", req.GetBillId())
}

// start runs the gateway against a live billing server; every other service's address
// is a closed port.
func start(t *testing.T) (*httptest.Server, *billing) {
	t.Helper()
	b := &billing{requestIDs: make(chan string, 10)}
	addr := serveBackend(t, func(s *grpc.Server) {
		billingv1.RegisterBillingServiceServer(s, b)
		healthpb.RegisterHealthServer(s, health.NewServer())
	})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	return serveGateway(t, deadAddr, Config{Services: map[string]string{"billing": addr}}), b
}

// asOperator returns the header of a request an operator makes (with extra headers).
func asOperator(t *testing.T, extra http.Header) http.Header {
	t.Helper()
	tok, err := testSigner.Sign(auth.Identity{Subject: "ops-1", Role: auth.RoleOperator}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Authorization": {"Bearer " + tok}}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func do(t *testing.T, method, url, body string, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp, m
}

func TestRESTMapsStatusCodes(t *testing.T) {
	t.Parallel()
	hts, b := start(t)
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"implemented method, NOT_FOUND", "GET", "/v1/bills/b-1", "", http.StatusNotFound},
		{"unimplemented method", "GET", "/v1/bills", "", http.StatusNotImplemented},
		{"service down", "GET", "/v1/trips/t-1", "", http.StatusServiceUnavailable},
		{"unknown provider", "POST", "/v1/providers/nope/reservations:batchGetDetails", `{"ids":["a"]}`, http.StatusBadRequest},
		{"unknown event source", "GET", "/v1/events/nope:subscribe", "", http.StatusBadRequest},
		{"malformed JSON body", "POST", "/v1/bills", `{"customerId":`, http.StatusBadRequest},
		{"no such route", "GET", "/v1/nothing", "", http.StatusNotFound},
	}
	for _, c := range cases {
		resp, _ := do(t, c.method, hts.URL+c.path, c.body, asOperator(t, nil))
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, resp.StatusCode, c.want)
		}
	}
	<-b.requestIDs // drained: GetBill was reached
}

func TestUnknownProviderNamesTheField(t *testing.T) {
	t.Parallel()
	hts, _ := start(t)
	_, body := do(t, "POST", hts.URL+"/v1/providers/nope/reservations:batchGetDetails", `{"ids":["a"]}`, asOperator(t, nil))
	details, _ := body["details"].([]any)
	if len(details) == 0 || !strings.Contains(toJSON(details), `"field":"provider"`) {
		t.Errorf("want a BadRequest naming field provider, got %v", body)
	}
}

func TestRequestIDTravels(t *testing.T) {
	t.Parallel()
	hts, b := start(t)
	resp, _ := do(t, "GET", hts.URL+"/v1/bills/b-1", "", asOperator(t, http.Header{"X-Request-Id": {"req-123"}}))
	if got := resp.Header.Get("X-Request-Id"); got != "req-123" {
		t.Errorf("response X-Request-Id = %q, want req-123", got)
	}
	if got := <-b.requestIDs; got != "req-123" {
		t.Errorf("service saw request id %q, want req-123", got)
	}
	resp, _ = do(t, "GET", hts.URL+"/v1/bills/b-2", "", asOperator(t, nil))
	generated := resp.Header.Get("X-Request-Id")
	if generated == "" {
		t.Error("no X-Request-Id generated")
	}
	if got := <-b.requestIDs; got != generated {
		t.Errorf("service saw request id %q, response says %q", got, generated)
	}
}

func TestOpenAPIAndHealth(t *testing.T) {
	t.Parallel()
	hts, _ := start(t)
	resp, doc := do(t, "GET", hts.URL+"/openapi.json", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.json = %d", resp.StatusCode)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range []string{"/v1/bills", "/v1/reservations", "/v1/trips", "/v1/drivers", "/v1/rateCards", "/v1/payments:authorize", "/v1/events/{service}:subscribe"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("OpenAPI document has no path %s", p)
		}
	}
	resp, body := do(t, "GET", hts.URL+"/healthz", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz with services down = %d, want 503", resp.StatusCode)
	}
	svcs, _ := body["services"].(map[string]any)
	if svcs["billing"] != "SERVING" || svcs["trip"] != "UNREACHABLE" {
		t.Errorf("/healthz body = %v", body)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
