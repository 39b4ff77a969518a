package grpcserver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/telemetry"
)

// provider is a test service whose behavior is chosen by the first requested id.
type provider struct {
	reservationv1.UnimplementedReservationProviderServiceServer
	sawDeadline atomic.Bool
	blocked     atomic.Int32
	release     chan struct{} // calls for "block" wait for it to close
}

func (p *provider) GetReservationDetails(ctx context.Context, req *reservationv1.GetReservationDetailsRequest) (*reservationv1.GetReservationDetailsResponse, error) {
	_, ok := ctx.Deadline()
	p.sawDeadline.Store(ok)
	switch req.GetIds()[0] {
	case "panic":
		panic("boom")
	case "plain":
		return nil, errors.New("secret database detail")
	case "notfound":
		return nil, status.Error(codes.NotFound, "no such thing")
	case "deadline":
		return nil, context.DeadlineExceeded
	case "block":
		p.blocked.Add(1)
		<-p.release
	}
	return &reservationv1.GetReservationDetailsResponse{}, nil
}

type harness struct {
	conn     *grpc.ClientConn
	accepted *atomic.Int64 // connections the gRPC listener accepted
	httpURL  string
	provider *provider
	ready    *atomic.Bool
	cancel   context.CancelFunc
	done     chan error
}

func start(t *testing.T) *harness {
	t.Helper()
	return startWith(t, grpcserver.Config{Name: "test", DefaultTimeout: 3 * time.Second})
}

// startWith starts a server with cfg on loopback listeners.
func startWith(t *testing.T, cfg grpcserver.Config) *harness {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), "test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := grpcserver.New(cfg, logger, tel)
	p := &provider{release: make(chan struct{})}
	reservationv1.RegisterReservationProviderServiceServer(srv.GRPC, p)
	ready := &atomic.Bool{}
	srv.AddReadinessCheck(func(context.Context) error {
		if !ready.Load() {
			return errors.New("not yet")
		}
		return nil
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &countingListener{Listener: raw, accepted: &atomic.Int64{}}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, httpLis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{conn: conn, accepted: lis.accepted, httpURL: "http://" + httpLis.Addr().String(), provider: p, ready: ready, cancel: cancel, done: done}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
	})
	return h
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

func (h *harness) call(t *testing.T, id string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := reservationv1.NewReservationProviderServiceClient(h.conn).GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Ids: []string{id}})
	return err
}

func TestHealthFollowsReadiness(t *testing.T) {
	t.Parallel()
	h := start(t)
	hc := healthpb.NewHealthClient(h.conn)
	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "waybill.reservation.v1.ReservationProviderService"})
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health never became %v (last %v, %v)", want, resp.GetStatus(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := http.Get(h.httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz while not ready = %d, want 503", resp.StatusCode)
	}
	h.ready.Store(true)
	waitStatus(healthpb.HealthCheckResponse_SERVING)
}

// TestLivenessIgnoresReadiness: the liveness service answers SERVING while readiness
// (the empty name and the registered services) says NOT_SERVING, so a liveness probe does
// not restart a replica whose database is down.
func TestLivenessIgnoresReadiness(t *testing.T) {
	t.Parallel()
	h := start(t) // its readiness check fails until h.ready is set
	hc := healthpb.NewHealthClient(h.conn)
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("check %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	deadline := time.Now().Add(5 * time.Second)
	for check(grpcserver.LivenessService) != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("liveness never SERVING")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := check(""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("readiness = %v while its check fails, want NOT_SERVING", got)
	}
}

// TestMaxConnectionAge: past the age, new calls go over new connections (so a client
// re-resolves and reaches replicas added since), while a stream opened before goes on.
// With the age disabled, the same calls share one connection.
func TestMaxConnectionAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		age  time.Duration
		more bool // whether the calls must have opened more than one connection
	}{{"300ms", 300 * time.Millisecond, true}, {"never", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := startWith(t, grpcserver.Config{Name: "test", DefaultTimeout: 3 * time.Second, MaxConnectionAge: tc.age})
			hc := healthpb.NewHealthClient(h.conn)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: ""})
			if err != nil {
				t.Fatal(err)
			}
			if first, err := watch.Recv(); err != nil || first.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("first watch status %v, %v; want not serving", first.GetStatus(), err)
			}
			for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: grpcserver.LivenessService}); err != nil {
					t.Fatalf("check: %v", err)
				}
			}
			// The stream opened before the age passed still delivers.
			h.ready.Store(true)
			for {
				resp, err := watch.Recv()
				if err != nil {
					t.Fatalf("the watch stream ended: %v", err)
				}
				if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
					break
				}
			}
			n := h.accepted.Load()
			t.Logf("connections accepted: %d", n)
			if tc.more && n < 2 {
				t.Fatalf("%d connection for 1.5 s of calls with a 300 ms age; want new ones", n)
			}
			if !tc.more && n != 1 {
				t.Fatalf("%d connections without an age; want 1", n)
			}
		})
	}
}

func TestErrorsAreMaskedOrPassedThrough(t *testing.T) {
	t.Parallel()
	h := start(t)
	cases := []struct {
		id     string
		want   codes.Code
		hidden string // must not reach the client
		masked bool   // carries an error id
	}{
		{id: "panic", want: codes.Internal, hidden: "boom", masked: true},
		{id: "plain", want: codes.Internal, hidden: "secret database detail", masked: true},
		{id: "notfound", want: codes.NotFound},
		{id: "deadline", want: codes.DeadlineExceeded},
		{id: "ok", want: codes.OK},
	}
	for _, c := range cases {
		err := h.call(t, c.id)
		st := status.Convert(err)
		if st.Code() != c.want {
			t.Errorf("%s: code %v, want %v (%v)", c.id, st.Code(), c.want, err)
		}
		if c.hidden != "" && strings.Contains(st.Message(), c.hidden) {
			t.Errorf("%s: message %q leaks %q", c.id, st.Message(), c.hidden)
		}
		if c.masked {
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil || info.GetMetadata()["error_id"] == "" || !strings.Contains(st.Message(), info.GetMetadata()["error_id"]) {
				t.Errorf("%s: want an ErrorInfo with the error id quoted in the message, got %v", c.id, st.Details())
			}
		}
	}
	// The server survived the panic.
	if err := h.call(t, "ok"); err != nil {
		t.Fatalf("after panic: %v", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	t.Parallel()
	h := start(t)
	// A call without a deadline gets the server's default.
	_, err := reservationv1.NewReservationProviderServiceClient(h.conn).GetReservationDetails(context.Background(), &reservationv1.GetReservationDetailsRequest{Ids: []string{"ok"}})
	if err != nil {
		t.Fatal(err)
	}
	if !h.provider.sawDeadline.Load() {
		t.Error("handler saw no deadline on a call that arrived without one")
	}
}

func TestReflectionAndMetrics(t *testing.T) {
	t.Parallel()
	h := start(t)
	stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, ","), "waybill.reservation.v1.ReservationProviderService") {
		t.Errorf("reflection lists %v", names)
	}
	_ = stream.CloseSend()

	if err := h.call(t, "ok"); err != nil {
		t.Fatal(err)
	}
	mresp, err := http.Get(h.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(body), "rpc_server_") {
		t.Errorf("/metrics has no rpc server metrics:\n%.2000s", body)
	}
}

// TestCallsBeyondTheWorkersRun: calls keep being served while more calls than the
// server has stream workers are blocked in their handlers.
func TestCallsBeyondTheWorkersRun(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.ready.Store(true)
	const blocked = 40 // more than the workers
	errs := make(chan error, blocked)
	for range blocked {
		go func() { errs <- h.call(t, "block") }()
	}
	for deadline := time.Now().Add(5 * time.Second); h.provider.blocked.Load() < blocked; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d calls reached their handler", h.provider.blocked.Load(), blocked)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.call(t, "ok"); err != nil {
		t.Fatalf("a call while %d are blocked: %v", blocked, err)
	}
	close(h.provider.release)
	for range blocked {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestPprofOnlyWhenEnabled: the runtime's profiles are served on the HTTP endpoint only
// when Config.Pprof is set.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	for _, enabled := range []bool{false, true} {
		h := startWith(t, grpcserver.Config{Name: "test", Pprof: enabled})
		resp, err := http.Get(h.httpURL + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNotFound
		if enabled {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("Pprof %v: /debug/pprof/cmdline answered %d, want %d", enabled, resp.StatusCode, want)
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := start(t)
	if err := h.call(t, "ok"); err != nil {
		t.Fatal(err)
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Serve returned %v after shutdown", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}
