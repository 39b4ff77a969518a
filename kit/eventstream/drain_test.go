package eventstream_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/telemetry"
)

// TestDrainingEndsStreams runs the service in kit/grpcserver: shutting it down ends
// every stream with UNAVAILABLE at once, so graceful shutdown does not wait for them.
func TestDrainingEndsStreams(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, schema, migrations(t))
	log := outbox.New(pool, schema, outbox.Options{})
	reader := eventstream.NewReader(pool, schema, log, eventstream.ReaderOptions{})
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go func() { _ = log.Run(bg) }()
	go func() { _ = reader.Run(bg) }()

	tel, err := telemetry.Setup(context.Background(), "test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	const shutdownTimeout = 20 * time.Second
	srv := grpcserver.New(grpcserver.Config{Name: service, ShutdownTimeout: shutdownTimeout},
		slog.New(slog.NewTextHandler(io.Discard, nil)), tel, withAuth())
	eventsv1.RegisterEventStreamServiceServer(srv.GRPC, eventstream.NewServer(service, knownTypes, reader,
		eventstream.ServerOptions{Draining: srv.Draining()}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, shutdown := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis, nil) }()

	client := eventsv1.NewEventStreamServiceClient(dial(t, lis.Addr().String()))
	streams := []*stream{
		subscribe(t, client, &eventsv1.SubscribeRequest{}),
		subscribe(t, client, &eventsv1.SubscribeRequest{Types: []string{typeAdded}}),
	}
	for _, s := range streams {
		s.next(t, 10*time.Second)
	}

	start := time.Now()
	shutdown()
	for _, s := range streams {
		st := s.end(t, 10*time.Second)
		wantCode(t, st, codes.Unavailable)
		if st.Message() != "server shutting down; resubscribe" {
			t.Errorf("message %q", st.Message())
		}
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(shutdownTimeout / 2):
		t.Fatal("graceful shutdown waited for the streams")
	}
	t.Logf("shutdown took %v", time.Since(start))
}
