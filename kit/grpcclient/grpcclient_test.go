package grpcclient_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/telemetry"
)

// flaky answers UNAVAILABLE to the first call of each method, then succeeds, and records
// whether calls carried a deadline.
type flaky struct {
	eventsv1.UnimplementedConsumerAdminServiceServer
	lists, discards atomic.Int32
	deadline        atomic.Bool
}

func (f *flaky) ListParkedEvents(ctx context.Context, _ *eventsv1.ListParkedEventsRequest) (*eventsv1.ListParkedEventsResponse, error) {
	_, ok := ctx.Deadline()
	f.deadline.Store(ok)
	if f.lists.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "try again")
	}
	return &eventsv1.ListParkedEventsResponse{}, nil
}

func (f *flaky) DiscardParkedEvents(context.Context, *eventsv1.DiscardParkedEventsRequest) (*eventsv1.DiscardParkedEventsResponse, error) {
	if f.discards.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "try again")
	}
	return &eventsv1.DiscardParkedEventsResponse{}, nil
}

func TestRetriesOnlyIdempotentMethods(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	f := &flaky{}
	eventsv1.RegisterConsumerAdminServiceServer(srv, f)
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpcclient.Dial(lis.Addr().String(), grpcclient.Options{
		Timeout:    2 * time.Second,
		Idempotent: []string{"/waybill.events.v1.ConsumerAdminService/ListParkedEvents"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := eventsv1.NewConsumerAdminServiceClient(conn)

	if _, err := client.ListParkedEvents(context.Background(), &eventsv1.ListParkedEventsRequest{}); err != nil {
		t.Errorf("idempotent call was not retried: %v", err)
	}
	if got := f.lists.Load(); got != 2 {
		t.Errorf("idempotent method called %d times, want 2", got)
	}
	if !f.deadline.Load() {
		t.Error("a call without a deadline reached the server without the default one")
	}
	if _, err := client.DiscardParkedEvents(context.Background(), &eventsv1.DiscardParkedEventsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("non-idempotent call: got %v, want UNAVAILABLE without retry", err)
	}
	if got := f.discards.Load(); got != 1 {
		t.Errorf("non-idempotent method called %d times, want 1", got)
	}
}

func TestBadMethodName(t *testing.T) {
	if _, err := grpcclient.Dial("127.0.0.1:1", grpcclient.Options{Idempotent: []string{"nope"}}); err == nil {
		t.Error("a malformed method name must be rejected")
	}
}

// hop answers ListParkedEvents by calling next, when set, with the handler's context,
// and records the request id each call arrived with.
type hop struct {
	eventsv1.UnimplementedConsumerAdminServiceServer
	next eventsv1.ConsumerAdminServiceClient
	got  atomic.Value
}

func (h *hop) ListParkedEvents(ctx context.Context, req *eventsv1.ListParkedEventsRequest) (*eventsv1.ListParkedEventsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	h.got.Store(strings.Join(md.Get(grpcserver.RequestIDHeader), ","))
	if h.next == nil {
		return &eventsv1.ListParkedEventsResponse{}, nil
	}
	return h.next.ListParkedEvents(ctx, req)
}

// TestRequestIDTravelsToTheNextHop: a service (kit/grpcserver) that calls another one
// (kit/grpcclient) while serving a call passes the caller's request id on, once.
func TestRequestIDTravelsToTheNextHop(t *testing.T) {
	serveOn := func(t *testing.T, register func(*grpc.Server)) string {
		tel, err := telemetry.Setup(t.Context(), "test", func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		srv := grpcserver.New(grpcserver.Config{Name: "test"}, slog.New(slog.NewTextHandler(io.Discard, nil)), tel)
		register(srv.GRPC)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ctx, lis, nil) }()
		t.Cleanup(func() { cancel(); <-done })
		return lis.Addr().String()
	}
	dial := func(t *testing.T, addr string) eventsv1.ConsumerAdminServiceClient {
		conn, err := grpcclient.Dial(addr, grpcclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return eventsv1.NewConsumerAdminServiceClient(conn)
	}
	last := &hop{}
	lastAddr := serveOn(t, func(s *grpc.Server) { eventsv1.RegisterConsumerAdminServiceServer(s, last) })
	first := &hop{next: dial(t, lastAddr)}
	firstAddr := serveOn(t, func(s *grpc.Server) { eventsv1.RegisterConsumerAdminServiceServer(s, first) })

	ctx := metadata.AppendToOutgoingContext(t.Context(), grpcserver.RequestIDHeader, "req-42")
	if _, err := dial(t, firstAddr).ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	if got, want := last.got.Load(), "req-42"; got != want {
		t.Fatalf("the second hop got request id %q, want %q", got, want)
	}
}
