package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/telemetry"
)

// secured is a gateway with its edge checks in front of a live billing server; every
// other service's address is a closed port. logs holds the gateway's log lines.
type secured struct {
	url     string
	billing *billing
	signer  *auth.Signer
	logs    *syncBuffer
}

// startSecured runs the gateway on cfg (Services, Timeout and Auth are filled in).
func startSecured(t *testing.T, cfg Config) *secured {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	b := &billing{requestIDs: make(chan string, 100)}
	billingv1.RegisterBillingServiceServer(srv, b)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	cfg.Services = map[string]string{}
	for name := range handlers {
		cfg.Services[name] = deadAddr(t)
	}
	cfg.Services["billing"] = lis.Addr().String()
	cfg.Timeout = 2 * time.Second
	signer, err := auth.NewSigner("gateway-test-secret-16+")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth = signer
	tel, err := telemetry.Setup(context.Background(), "gateway-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), tel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	hts := httptest.NewServer(g.Handler())
	t.Cleanup(hts.Close)
	return &secured{url: hts.URL, billing: b, signer: signer, logs: logs}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// token returns an Authorization header value for subject in role.
func (s *secured) token(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	tok, err := s.signer.Sign(auth.Identity{Subject: subject, Role: role}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// send makes a request with body (its length declared unless chunked) and an
// Authorization header (none when empty), and returns the status and up to 1 MiB of the
// answer.
func send(t *testing.T, method, url string, body io.Reader, length int64, authorization string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length // -1: chunked
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, raw
}

// spaces is a body of n blanks made as it is read: the client holds none of it.
func spaces(n int64) io.Reader { return io.LimitReader(spaceReader{}, n) }

type spaceReader struct{}

func (spaceReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestBodiesAreCapped: a body over the cap (1 MiB by default) is refused with 413, when
// its declared length is over (at once, even without a token) and when a chunked body
// runs past it (read no further), and the service is not called.
func TestBodiesAreCapped(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{})
	ops := s.token(t, "ops-1", auth.RoleOperator)
	over := int64(1<<20 + 1)
	for _, c := range []struct {
		name          string
		length        int64
		authorization string
	}{
		{"declared, no token", over, ""},
		{"declared, with a token", over, ops},
		{"chunked, with a token", -1, ops},
	} {
		code, _, body := send(t, "POST", s.url+"/v1/bills", spaces(over), c.length, c.authorization)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "1048576") {
			t.Errorf("%s: %d %s, want 413 naming the limit", c.name, code, body)
		}
	}
	select {
	case id := <-s.billing.requestIDs:
		t.Errorf("an oversized request reached the service (request id %s)", id)
	default:
	}
	// A body within the cap goes through (GetBill has no body; CreateBill is
	// unimplemented here, so 501 says it reached the service).
	small := `{"customerId":"c-1","currencyCode":"EUR"}` + strings.Repeat(" ", 1<<20-41)
	if code, _, body := send(t, "POST", s.url+"/v1/bills", strings.NewReader(small), -1, ops); code != http.StatusNotImplemented {
		t.Errorf("a body of exactly 1 MiB: %d %s, want the service's 501", code, body)
	}
}

// TestTheBodyCapIsConfigurable: Config.MaxBodyBytes (--max-body-bytes) sets the cap.
func TestTheBodyCapIsConfigurable(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{MaxBodyBytes: 1000})
	ops := s.token(t, "ops-1", auth.RoleOperator)
	for _, length := range []int64{1001, -1} {
		if code, _, body := send(t, "POST", s.url+"/v1/bills", spaces(1001), length, ops); code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "1000 bytes") {
			t.Errorf("1001 bytes (length %d): %d %s, want 413", length, code, body)
		}
	}
	if code, _, body := send(t, "POST", s.url+"/v1/bills", spaces(1000), -1, ops); code != http.StatusNotImplemented {
		t.Errorf("1000 bytes: %d %s, want the service's 501", code, body)
	}
}

// TestAnonymousHugeBodyCostsNoMemory measures what the issue found (an anonymous 200 MB
// POST took the gateway from 394 MB to 1.13 GB resident): the gateway answers 413 from
// the declared length without reading the body, and its resident memory, this test
// process's, grows by less than 50 MB. The client makes the body as it sends it.
func TestAnonymousHugeBodyCostsNoMemory(t *testing.T) {
	s := startSecured(t, Config{})
	const size = 200 << 20
	for _, c := range []struct {
		name          string
		length        int64
		authorization string
		want          int
	}{
		{"declared length", size, "", http.StatusRequestEntityTooLarge},
		{"chunked, no token", -1, "", http.StatusUnauthorized},
		{"chunked, operator", -1, s.token(t, "ops-1", auth.RoleOperator), http.StatusRequestEntityTooLarge},
	} {
		before := vmRSS(t)
		start := time.Now()
		code := sendHuge(t, s.url+"/v1/bills", size, c.length, c.authorization)
		grew := vmRSS(t) - before
		t.Logf("%s: 200 MB POST answered %d in %v; VmRSS %d MB → %d MB (+%.1f MB)",
			c.name, code, time.Since(start).Round(time.Millisecond), before>>20, (before+grew)>>20, float64(grew)/(1<<20))
		if code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
		if grew > 50<<20 {
			t.Errorf("%s: resident memory grew by %d MB, want < 50 MB", c.name, grew>>20)
		}
	}
}

// sendHuge POSTs n generated bytes and returns the status. The server may answer and
// close before the client has sent everything: that is a refusal, not an error.
func sendHuge(t *testing.T, url string, n, length int64, authorization string) int {
	t.Helper()
	req, err := http.NewRequest("POST", url, spaces(n))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// vmRSS returns this process's resident memory in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestEveryRouteNeedsATokenFirst: a route that needs an identity answers 401 before
// anything else (the body is not validated, no service is called), with a
// WWW-Authenticate challenge; the public routes answer without one.
func TestEveryRouteNeedsATokenFirst(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{})
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/properties", `{"property":`}, // malformed: 400 if it were read
		{"POST", "/v1/bills", `{}`},
		{"GET", "/v1/bills/b-1", ""},
		{"GET", "/v1/events/booking:subscribe", ""},
		{"GET", "/v1/nothing", ""},
	} {
		code, header, body := send(t, c.method, s.url+c.path, strings.NewReader(c.body), int64(len(c.body)), "")
		if code != http.StatusUnauthorized || !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s without a token: %d %s (WWW-Authenticate %q), want 401 with a Bearer challenge",
				c.method, c.path, code, body, header.Get("WWW-Authenticate"))
		}
	}
	select {
	case id := <-s.billing.requestIDs:
		t.Errorf("a request without a token reached the service (request id %s)", id)
	default:
	}
	for _, path := range []string{"/healthz", "/openapi.json", "/docs", "/metrics"} {
		if code, _, body := send(t, "GET", s.url+path, http.NoBody, 0, ""); code == http.StatusUnauthorized {
			t.Errorf("public %s: 401 %s", path, body)
		}
	}
}

// TestTheBearerSchemeIsCaseInsensitive (RFC 7235: auth-scheme is case-insensitive).
func TestTheBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{})
	tok := strings.TrimPrefix(s.token(t, "c-1", auth.RoleCustomer), "Bearer ")
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		if code, _, body := send(t, "GET", s.url+"/v1/bills/b-1", http.NoBody, 0, scheme+" "+tok); code != http.StatusNotFound {
			t.Errorf("%q scheme: %d %s, want the service's 404", scheme, code, body)
		}
	}
	if code, _, _ := send(t, "GET", s.url+"/v1/bills/b-1", http.NoBody, 0, "Basic "+tok); code != http.StatusUnauthorized {
		t.Errorf("Basic scheme: %d, want 401", code)
	}
}

// TestADeadBackendsErrorNamesNoAddress: a service that cannot be reached answers 503
// with a generic message and an error id; the address and the dial error are only in the
// gateway's log, under that id.
func TestADeadBackendsErrorNamesNoAddress(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{})
	code, _, body := send(t, "GET", s.url+"/v1/trips/t-1", http.NoBody, 0, s.token(t, "ops-1", auth.RoleOperator))
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &st)
	if code != http.StatusServiceUnavailable || st.Code != 14 {
		t.Fatalf("trip down: %d %s, want 503 UNAVAILABLE", code, body)
	}
	for _, leak := range []string{"127.0.0.1", "dial", "tcp", "transport", "connection refused"} {
		if strings.Contains(strings.ToLower(string(body)), leak) {
			t.Errorf("the 503 body carries %q: %s", leak, body)
		}
	}
	_, id, ok := strings.Cut(st.Message, "error id ")
	id = strings.TrimRight(id, ")")
	if !ok || id == "" {
		t.Fatalf("the 503 message names no error id: %q", st.Message)
	}
	logged := s.logs.waitFor(t, id)
	if !strings.Contains(logged, "127.0.0.1") {
		t.Errorf("the log line of error id %s does not carry the detail: %s", id, logged)
	}
}

// TestErrorsDoNotEchoLargeInput: an error about a huge value does not send it back.
func TestErrorsDoNotEchoLargeInput(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{})
	huge := strings.Repeat("7", 900<<10)
	body := `{"customerId":` + huge + `}` // a number where a string goes: protojson quotes it
	code, _, answer := send(t, "POST", s.url+"/v1/bills", strings.NewReader(body), int64(len(body)), s.token(t, "ops-1", auth.RoleOperator))
	if code != http.StatusBadRequest {
		t.Fatalf("%d %.200s, want 400", code, answer)
	}
	if len(answer) > 4<<10 {
		t.Errorf("the error is %d bytes long, echoing the input: %.200s…", len(answer), answer)
	}
}

// TestOneAccessLogLinePerRequest: each request is logged once, with its method, route
// pattern, status, duration, request id and caller.
func TestOneAccessLogLinePerRequest(t *testing.T) {
	t.Parallel()
	s := startSecured(t, Config{})
	req, _ := http.NewRequest("GET", s.url+"/v1/bills/b-42", nil)
	req.Header.Set("Authorization", s.token(t, "c-7", auth.RoleCustomer))
	req.Header.Set("X-Request-Id", "access-log-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	send(t, "GET", s.url+"/healthz", http.NoBody, 0, "")

	line := s.logs.waitFor(t, `"request_id":"access-log-1"`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	want := map[string]any{"method": "GET", "route": "/v1/bills/{bill_id}", "status": float64(404), "subject": "c-7", "role": "customer"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log %s = %v, want %v (line %s)", k, rec[k], v, line)
		}
	}
	if _, ok := rec["duration"]; !ok {
		t.Errorf("no duration: %s", line)
	}
	if n := strings.Count(s.logs.String(), `"request_id":"access-log-1"`); n != 1 {
		t.Errorf("%d log lines for one request, want 1:\n%s", n, s.logs.String())
	}
	health := s.logs.waitFor(t, `"route":"/healthz"`)
	if !strings.Contains(health, `"status":503`) {
		t.Errorf("health line: %s", health)
	}
}

// syncBuffer is a log destination tests read while the gateway writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor returns the first log line containing s, waiting a little for it.
func (b *syncBuffer) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.Contains(line, s) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line contains %s; logs:\n%s", s, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
