package billinggrpc_test

import (
	"context"
	"testing"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billingapp"
)

// TestEventsWithTheRunnersLog registers billing the way kit/serve does when the spec
// declares billing.EventTypes (the runner owns the outbox log and serves the event
// stream, so a second EventStreamService would fail the registration), and reads
// billing's events through its EventStreamService.
func TestEventsWithTheRunnersLog(t *testing.T) {
	t.Parallel()
	cfg := billingapp.DefaultConfig()
	cfg.Providers = ""
	spec := billingapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error {
		if d.Events == nil || d.EventStream == nil {
			t.Error("the harness gave billing no event log of the runner's")
		}
		return billingapp.Register(ctx, d, cfg)
	}
	s := grpctest.Start(t, spec)
	conn := s.Conn(auth.Identity{Subject: "ops", Role: auth.RoleOperator})
	c := grpctest.Context(t)
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
