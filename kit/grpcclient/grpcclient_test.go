package grpcclient_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/grpcclient"
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
