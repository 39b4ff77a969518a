package billinggrpc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
	"github.com/waybill/waybill/services/billing/billinggrpc"
)

// TestEventsWithTheRunnersLog registers billing the way kit/serve does when the spec
// declares billinggrpc.EventTypes (the runner owns the outbox log and serves the event
// stream), and reads billing's events through its EventStreamService.
func TestEventsWithTheRunnersLog(t *testing.T) {
	t.Parallel()
	signer := newSigner(t)
	pool := newBillingDB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.Setup(context.Background(), "billing-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(grpcserver.Config{Name: "billing", DefaultTimeout: 10 * time.Second, ShutdownTimeout: time.Second}, logger, tel,
		grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	// What serve.Run does for a spec with EventTypes.
	log := outbox.New(pool, "billing", outbox.Options{Logger: logger})
	reader := eventstream.NewReader(pool, "billing", log, eventstream.ReaderOptions{Logger: logger})
	logStream := eventstream.NewServer("billing", billinggrpc.EventTypes, reader,
		eventstream.ServerOptions{Draining: srv.Draining(), Logger: logger})
	eventsv1.RegisterEventStreamServiceServer(srv.GRPC, logStream)
	go func() { _ = log.Run(ctx) }()
	go func() { _ = reader.Run(ctx) }()
	cfg := billinggrpc.DefaultConfig()
	cfg.Providers = ""
	if err := billinggrpc.RegisterConfig(ctx, serve.Deps{Server: srv, Pool: pool, Logger: logger, Auth: signer, Events: log, EventStream: logStream}, cfg); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { defer close(done); _ = srv.Serve(ctx, lis, nil) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		signer.DialOption(auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := ctxT(t)
	bills := billingv1.NewBillingServiceClient(conn)
	created, err := bills.CreateBill(c, &billingv1.CreateBillRequest{CustomerId: "cust-1", CurrencyCode: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bills.CancelBill(c, &billingv1.CancelBillRequest{BillId: created.GetBill().GetId(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	stream, err := eventsv1.NewEventStreamServiceClient(conn).Subscribe(c, &eventsv1.SubscribeRequest{Service: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for len(types) < 2 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		ev := m.GetEvent()
		if ev == nil {
			continue
		}
		var be billingv1.BillEvent
		if err := ev.GetPayload().UnmarshalTo(&be); err != nil || be.GetBill().GetId() != created.GetBill().GetId() || ev.GetKey() != created.GetBill().GetId() {
			t.Fatalf("event %v: payload %v (%v)", ev.GetType(), be.GetBill(), err)
		}
		types = append(types, ev.GetType())
	}
	if types[0] != "billing.bill.opened" || types[1] != "billing.bill.cancelled" {
		t.Fatalf("events = %v", types)
	}
}
