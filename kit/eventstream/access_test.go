package eventstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/eventstream"
)

// TestSubscribeIsForServicesAndOperators: an event log replays every customer's data, so
// Subscribe refuses a call without a token (UNAUTHENTICATED) and customers and drivers
// (PERMISSION_DENIED); services and operators get the stream.
func TestSubscribeIsForServicesAndOperators(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.emitN(t, 1, typeAdded)
	e.waitSequenced(t, 1)
	for _, c := range []struct {
		name string
		id   auth.Identity
		want codes.Code
	}{
		{"no token", auth.Identity{}, codes.Unauthenticated},
		{"customer", auth.Identity{Subject: "c-1", Role: auth.RoleCustomer}, codes.PermissionDenied},
		{"driver", auth.Identity{Subject: "d-1", Role: auth.RoleDriver}, codes.PermissionDenied},
		{"operator", auth.Identity{Subject: "ops-1", Role: auth.RoleOperator}, codes.OK},
		{"service", auth.Identity{Subject: "billing", Role: auth.RoleService}, codes.OK},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := eventsv1.NewEventStreamServiceClient(dialAs(t, e.addr, c.id))
			if c.want != codes.OK {
				st := subscribeErr(t, client, &eventsv1.SubscribeRequest{})
				wantCode(t, st, c.want)
				return
			}
			if evs := subscribe(t, client, &eventsv1.SubscribeRequest{}).events(t, 1); evs[0].GetType() != typeAdded {
				t.Errorf("got %v", evs[0])
			}
		})
	}
}

// TestSubscribeChecksTheCallerBeforeTheRequest: a caller who may not subscribe learns
// nothing from the request's validation (which names the service's event types).
func TestSubscribeChecksTheCallerBeforeTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	client := eventsv1.NewEventStreamServiceClient(dialAs(t, e.addr, auth.Identity{Subject: "c-1", Role: auth.RoleCustomer}))
	st := subscribeErr(t, client, &eventsv1.SubscribeRequest{Types: []string{"shop.nope"}})
	wantCode(t, st, codes.PermissionDenied)
}

// TestSubscribeLimitsStreams: a caller holds at most MaxStreamsPerCaller streams and the
// server serves at most MaxStreams; one more is RESOURCE_EXHAUSTED, saying which limit,
// and a stream that ends gives its place back.
func TestSubscribeLimitsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: eventstream.ServerOptions{MaxStreams: 3, MaxStreamsPerCaller: 2}})
	billing := eventsv1.NewEventStreamServiceClient(dialAs(t, e.addr, auth.Identity{Subject: "billing", Role: auth.RoleService}))
	trip := eventsv1.NewEventStreamServiceClient(dialAs(t, e.addr, auth.Identity{Subject: "trip", Role: auth.RoleService}))
	ops := eventsv1.NewEventStreamServiceClient(dialAs(t, e.addr, auth.Identity{Subject: "ops-1", Role: auth.RoleOperator}))
	open := func(c eventsv1.EventStreamServiceClient) *stream {
		s := subscribe(t, c, &eventsv1.SubscribeRequest{})
		if !s.next(t, 10*time.Second).GetHeartbeat() { // live: the server counts it
			t.Fatal("want a heartbeat first")
		}
		return s
	}
	refused := func(c eventsv1.EventStreamServiceClient, want string) {
		t.Helper()
		st := subscribeErr(t, c, &eventsv1.SubscribeRequest{})
		wantCode(t, st, codes.ResourceExhausted)
		if !strings.Contains(st.Message(), want) || reasonOf(st) != eventstream.ReasonTooManyStreams {
			t.Errorf("refusal %q (reason %q), want it to say %q with reason %s", st.Message(), reasonOf(st), want, eventstream.ReasonTooManyStreams)
		}
	}
	first := open(billing)
	open(billing)
	refused(billing, `service "billing" already holds 2 event streams`)
	open(ops)
	refused(trip, "already serves 3 event streams")

	first.cancel()
	<-first.done
	deadline := time.Now().Add(10 * time.Second)
	for eventstream.Subscribers(e.reader) > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	open(trip) // billing's first stream gave its place back
}

// TestLocalServesInProcessReaders: Local skips the caller check, for an in-process
// reader (billing's WatchBills) that authorizes its own caller, here a customer.
func TestLocalServesInProcessReaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.emitN(t, 1, typeAdded)
	e.waitSequenced(t, 1)
	srv := eventstream.NewServer(service, knownTypes, e.reader, eventstream.ServerOptions{})
	ctx, cancel := context.WithCancel(auth.WithIdentity(context.Background(), auth.Identity{Subject: "c-1", Role: auth.RoleCustomer}))
	defer cancel()
	got := make(chan *eventsv1.SubscribeResponse, 16)
	done := make(chan error, 1)
	go func() { done <- srv.Local().Subscribe(&eventsv1.SubscribeRequest{}, &localStream{ctx: ctx, got: got}) }()
	select {
	case msg := <-got:
		if msg.GetEvent().GetType() != typeAdded {
			t.Errorf("got %v, want the event", msg)
		}
	case err := <-done:
		t.Fatalf("local subscription ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	// The same caller through the registered server is refused.
	err := srv.Subscribe(&eventsv1.SubscribeRequest{}, &localStream{ctx: ctx, got: got})
	wantCode(t, statusOf(err), codes.PermissionDenied)
}

// localStream is an in-process server stream.
type localStream struct {
	grpc.ServerStream
	ctx context.Context
	got chan *eventsv1.SubscribeResponse
}

func (s *localStream) Context() context.Context { return s.ctx }
func (s *localStream) Send(m *eventsv1.SubscribeResponse) error {
	select {
	case s.got <- m:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// reasonOf returns a status's ErrorInfo reason.
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
