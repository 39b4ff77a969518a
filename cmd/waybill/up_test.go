package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/waybill/waybill/kit/proctest"
)

// mesh is a `waybill up` the test started, with its own throwaway PostgreSQL.
type mesh struct {
	bin    string // the waybill binary
	cmd    *exec.Cmd
	logs   *logWatcher
	exited chan error // receives cmd.Wait's result
	offset int        // added to every default port
}

// addr returns the mesh's loopback address for a default port.
func (m *mesh) addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port+m.offset) }

// startMesh builds the binary and runs `waybill up` on shifted ports until it is up; the
// mesh is killed when the test ends.
func startMesh(t *testing.T) *mesh {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL and seven processes")
	}
	m := &mesh{bin: proctest.Build(t), exited: make(chan error, 1), offset: 10000 + rand.IntN(1000)*10}
	m.cmd = exec.Command(m.bin, "up", "--port-offset", strconv.Itoa(m.offset))
	m.cmd.Env = append(os.Environ(), "DATABASE_URL=", "WAYBILL_DATABASE_URL=")
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stderr = m.cmd.Stdout
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.logs = newLogWatcher(out)
	go func() { m.exited <- m.cmd.Wait() }()
	t.Cleanup(func() {
		_ = m.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("output of waybill up:\n%s", m.logs.String())
		}
	})
	if !m.logs.waitFor("Waybill is up", 90*time.Second) {
		t.Fatal("mesh did not come up")
	}
	return m
}

// TestUpRunsTheMesh runs `waybill up`, checks every process, sells a seat and runs
// scripts/demo.sh through the gateway, then kills one service and checks that it is
// restarted while the rest keep serving.
func TestUpRunsTheMesh(t *testing.T) {
	m := startMesh(t)
	bin, cmd, logs, exited, addr := m.bin, m.cmd, m.logs, m.exited, m.addr
	for _, s := range specs {
		conn, err := grpc.NewClient(addr(portsOf(s.Name).GRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health: %v %v", s.Name, resp.GetStatus(), err)
		}
		if names := listServices(ctx, t, conn); !strings.Contains(names, "waybill."+s.Name+".v1.") || !strings.Contains(names, "waybill.events.v1.EventStreamService") {
			t.Errorf("%s reflection lists %s", s.Name, names)
		}
		cancel()
		conn.Close()
		if code, body := get(t, "http://"+addr(portsOf(s.Name).HTTP)+"/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
			t.Errorf("%s /metrics = %d", s.Name, code)
		}
	}
	gw := "http://" + addr(portsOf("gateway").HTTP)
	if code, _ := get(t, gw+"/healthz"); code != http.StatusOK {
		t.Errorf("gateway /healthz = %d", code)
	}
	if code, body := get(t, gw+"/openapi.json"); code != http.StatusOK || !strings.Contains(body, `"/v1/bills"`) {
		t.Errorf("gateway /openapi.json = %d", code)
	}
	operator := mintToken(t, bin, "ops", "operator")
	if code, _ := get(t, gw+"/v1/bills"); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/bills without a token = %d, want 401", code)
	}
	if code, body := getAs(t, gw+"/v1/bills", operator); code != http.StatusOK {
		t.Errorf("GET /v1/bills as an operator = %d %s", code, body)
	}
	if code, body := getAs(t, gw+"/v1/trips/t-1", operator); code != http.StatusBadRequest || !strings.Contains(body, "trip_id") {
		t.Errorf("GET /v1/trips/t-1 (not a UUID) = %d %s, want 400 naming trip_id", code, body)
	}

	// A bill without items: the demo's panel step must cope with one (its .items is
	// absent from the JSON). The demo runs on a mesh that has not seen its flight yet,
	// as on a fresh `waybill up`; sellASeat then sells a seat on another flight.
	post(t, gw+"/v1/bills", mintToken(t, bin, "c-9", "customer"), `{"customerId":"c-9","currencyCode":"EUR","requestId":"e2e-empty-bill"}`)
	runDemo(t, bin, gw)
	sellASeat(t, gw, operator, mintToken(t, bin, "c-43", "customer"))

	// Kill booking: the supervisor restarts it (and logs it), the others keep serving.
	pid := logs.pidOf("booking")
	if pid == 0 {
		t.Fatal("no pid logged for booking")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !logs.waitFor("process=booking pid="+strconv.Itoa(pid)+" status=\"signal: killed\"", 10*time.Second) {
		t.Fatal("booking did not die")
	}
	if code, _ := getAs(t, gw+"/v1/bills", operator); code != http.StatusOK {
		t.Errorf("a billing route with booking dead = %d, want 200", code)
	}
	if !logs.waitFor(`msg="restarting process" service=up process=booking`, 10*time.Second) {
		t.Fatal("booking's restart was not logged")
	}
	deadline := time.Now().Add(60 * time.Second)
	for logs.pidOf("booking") == pid || !healthy(t, gw) {
		if time.Now().After(deadline) {
			t.Fatalf("booking was not restarted: pid %d, /healthz %v", logs.pidOf("booking"), healthy(t, gw))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := getAs(t, gw+"/v1/reservations/"+uuidLike, operator); code != http.StatusNotFound {
		t.Errorf("a booking route after booking's restart = %d %s, want 404", code, body)
	}

	// Ctrl-C stops everything cleanly.
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("waybill up exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waybill up did not stop")
	}
	if !logs.waitFor("PostgreSQL stopped", time.Second) {
		t.Error("PostgreSQL was not stopped")
	}
}

// TestUpExitsWhenPostgreSQLDies: the mesh notices within seconds that its throwaway
// PostgreSQL died, says so, stops every process and exits with an error.
func TestUpExitsWhenPostgreSQLDies(t *testing.T) {
	m := startMesh(t)
	match := regexp.MustCompile(`msg="PostgreSQL started" service=up port=\d+ pid=(\d+)`).FindStringSubmatch(m.logs.String())
	if match == nil {
		t.Fatal("no pid logged for PostgreSQL")
	}
	pid, _ := strconv.Atoi(match[1])
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-m.exited:
		took := time.Since(killed)
		t.Logf("waybill up exited %v after PostgreSQL was killed: %v", took.Round(time.Millisecond), err)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("waybill up exited with %v, want a non-zero status", err)
		}
		if took > 10*time.Second {
			t.Errorf("waybill up took %v to notice, want seconds", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waybill up did not exit after PostgreSQL died")
	}
	if !m.logs.waitFor(`msg="PostgreSQL died; stopping the mesh"`, time.Second) {
		t.Error("the death of PostgreSQL was not logged")
	}
	for _, name := range append(serviceNamesList(), "gateway") {
		if pid := m.logs.pidOf(name); pid == 0 || syscall.Kill(pid, 0) == nil {
			t.Errorf("%s (pid %d) still runs after the mesh stopped", name, pid)
		}
	}
}

// serviceNamesList returns the mesh's service names.
func serviceNamesList() []string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}

func TestRunRejectsUnknownCommands(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"serve"}, {"serve", "nope"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestServeRequiresADatabase(t *testing.T) {
	err := run(context.Background(), []string{"serve", "booking"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "database-url") {
		t.Errorf("serve without a database: %v", err)
	}
}

func listServices(ctx context.Context, t *testing.T, conn *grpc.ClientConn) string {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return err.Error()
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		return err.Error()
	}
	resp, err := stream.Recv()
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return strings.Join(names, ",")
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return getAs(t, url, "")
}

// getAs GETs url with a bearer token (none when empty).
func getAs(t *testing.T, url, token string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sellASeat walks a seat from inventory to a paid bill through the REST gateway, across
// five processes: fare prices the hold, booking keeps it, billing checks it with booking,
// pays it with payment and booking through its saga, and shows it in the panel from its
// read model and one batched details call.
func sellASeat(t *testing.T, gw, operator, customer string) {
	t.Helper()
	dep := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	post(t, gw+"/v1/rateCards", operator, `{"rateCard":{"productKey":{"seat":{"carrier":"LH","origin":"FRA","destination":"SFO","fareClass":"economy"}},"currencyCode":"EUR","inventory":{"unitPrice":{"amountMinor":"10000","currencyCode":"EUR"}}}}`)
	d := post(t, gw+"/v1/departures", operator, `{"departure":{"mode":"TRANSPORT_MODE_FLIGHT","carrier":"LH","number":"454","origin":"FRA","destination":"SFO","departureTime":"`+dep.Format(time.RFC3339)+`","arrivalTime":"`+dep.Add(8*time.Hour).Format(time.RFC3339)+`","originTimeZone":"Europe/Berlin","fareClasses":[{"name":"economy","capacity":10}]}}`)
	depID := field(d, "departure", "id")
	r := post(t, gw+"/v1/reservations", customer, `{"reservation":{"seat":{"departureId":"`+depID+`","fareClass":"economy"},"quantity":2,"travelers":[{"fullName":"Ada Lovelace"},{"fullName":"Charles Babbage"}]},"requestId":"e2e-hold"}`)
	if got := field(r, "reservation", "price", "amountMinor"); got != "20000" {
		t.Errorf("hold priced at %s minor units, want 20000 (2 × 100.00 EUR from fare)", got)
	}
	resID := field(r, "reservation", "id")
	post(t, gw+"/v1/reservations/"+resID+":confirm", customer, `{"requestId":"e2e-confirm"}`)
	b := post(t, gw+"/v1/bills", customer, `{"customerId":"c-43","currencyCode":"EUR","requestId":"e2e-bill"}`)
	billID := field(b, "bill", "id")
	post(t, gw+"/v1/bills/"+billID+"/items", customer, `{"kind":"KIND_FLIGHT","reservationId":"`+resID+`","requestId":"e2e-item"}`)
	f := post(t, gw+"/v1/bills/"+billID+":finalize", customer, `{"requestId":"e2e-final"}`)
	if got := field(f, "bill", "status"); got != "BILL_STATUS_FINALIZED" {
		t.Errorf("bill status after finalize = %s", got)
	}
	// Pay: billing's saga authorizes with payment, confirms with booking, captures.
	pm := post(t, gw+"/v1/paymentMethods", customer, `{"customerId":"c-43","card":{"number":"4242424242424242","expiryMonth":12,"expiryYear":2040,"cvc":"123"},"requestId":"e2e-pm"}`)
	pmID := field(pm, "paymentMethod", "id")
	post(t, gw+"/v1/bills/"+billID+":pay", customer, `{"paymentMethodId":"`+pmID+`","requestId":"e2e-pay"}`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, bill := getAs(t, gw+"/v1/bills/"+billID, customer)
		if strings.Contains(bill, "BILL_STATUS_PAID") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bill not paid: %s", bill)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body := getAs(t, gw+"/v1/bills?view=VIEW_FULL", operator)
	// The booking's details (the seat's carrier is only there) come through billing,
	// which forwards them undecoded, and the gateway's JSON.
	if code != http.StatusOK || !strings.Contains(body, `"title":"LH 454 FRA → SFO"`) || !strings.Contains(body, "MAIN_STATUS_CONFIRMED") ||
		!strings.Contains(body, `"detailsStatus":"DETAILS_STATUS_OK"`) || !strings.Contains(body, `"carrier":"LH"`) {
		t.Errorf("operator panel = %d %s", code, body)
	}
	// Another customer sees none of it.
	other := mintTokenFor(t, "c-7")
	if code, _ := getAs(t, gw+"/v1/bills/"+billID, other); code == http.StatusOK {
		t.Error("another customer could read the bill")
	}
}

// mintTokenFor signs a customer token with the development secret the mesh uses.
func mintTokenFor(t *testing.T, subject string) string {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), []string{"token", "--subject", subject, "--role", "customer"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

// post POSTs a JSON body with a bearer token and decodes the JSON answer, failing the
// test on any status but 200.
func post(t *testing.T, url, token, body string) map[string]any {
	t.Helper()
	code, raw, err := postOnce(url, token, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	if code != http.StatusOK {
		t.Fatalf("POST %s = %d %s", url, code, raw)
	}
	return decodeJSON(t, url, raw)
}

// postOnce POSTs a JSON body with a bearer token and returns the answer's status and body.
func postOnce(url, token, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// decodeJSON decodes the JSON object that url answered.
func decodeJSON(t *testing.T, url string, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return m
}

// field digs a string out of decoded JSON.
func field(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// mintToken mints a bearer token with the binary under test.
func mintToken(t *testing.T, bin, subject, role string) string {
	t.Helper()
	out, err := exec.Command(bin, "token", "--subject", subject, "--role", role).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// logWatcher collects a process's output and lets a test wait for a line.
type logWatcher struct {
	mu   sync.Mutex
	buf  strings.Builder
	cond *sync.Cond
}

func newLogWatcher(r io.Reader) *logWatcher {
	w := &logWatcher{}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.buf.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			w.cond.Broadcast()
		}
	}()
	return w
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *logWatcher) waitFor(s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(w.String(), s) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

var startedRe = regexp.MustCompile(`msg="process started" service=up process=(\w+) pid=(\d+)`)

// pidOf returns the pid of the named process's latest start.
func (w *logWatcher) pidOf(name string) int {
	pid := 0
	for _, m := range startedRe.FindAllStringSubmatch(w.String(), -1) {
		if m[1] == name {
			pid, _ = strconv.Atoi(m[2])
		}
	}
	return pid
}

// uuidLike is a well-formed id that names nothing.
const uuidLike = "00000000-0000-4000-8000-000000000000"

// healthy reports whether the gateway's /healthz says every service serves.
func healthy(t *testing.T, gw string) bool {
	t.Helper()
	code, _ := get(t, gw+"/healthz")
	return code == http.StatusOK
}

// runDemo runs scripts/demo.sh against the mesh's gateway gw with the binary bin, as its
// header says to: it must finish every step.
func runDemo(t *testing.T, bin, gw string) {
	runScript(t, "demo.sh", bin, gw, 2*time.Minute, []string{"bash", "curl", "jq"},
		"8. operator panel", "9. the booking event log", "BILL_STATUS_PAID")
}

// runScript runs scripts/<script> against the mesh's gateway gw with the binary bin
// (GW and WAYBILL in its environment), within timeout: it must succeed and print every
// one of want. tools are the programs it needs on PATH.
func runScript(t *testing.T, script, bin, gw string, timeout time.Duration, tools []string, want ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("scripts/%s needs %s on PATH: %v", script, tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", script))
	cmd.Env = append(os.Environ(), "GW="+gw, "WAYBILL="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/%s: %v\n%s", script, err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("the output of scripts/%s lacks %q:\n%s", script, w, out)
		}
	}
	t.Logf("scripts/%s:\n%s", script, out)
}
