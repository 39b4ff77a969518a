package paymentgrpc_test

import (
	"testing"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/payment/payment"
)

// The events of a payment's life are served through Subscribe, in order, with their payloads.
func TestEventsAreServedThroughSubscribe(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	p := e.authorize(e.method("tok_sim_visa").GetId(), eur(1000))
	e.capture(p.GetId(), eur(400))

	stream, err := eventsv1.NewEventStreamServiceClient(e.srv.Conn(billing)).Subscribe(ctx, &eventsv1.SubscribeRequest{
		Types: []string{payment.EventAuthorized, payment.EventCaptured}, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL})
	if err != nil {
		t.Fatal(err)
	}
	var got []*eventsv1.Event
	for len(got) < 2 {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetEvent() != nil {
			got = append(got, msg.GetEvent())
		}
	}
	if got[0].GetType() != payment.EventAuthorized || got[1].GetType() != payment.EventCaptured || got[1].GetKey() != p.GetId() ||
		got[0].GetSource() != "payment" {
		t.Fatalf("events %v", got)
	}
	var pe paymentv1.PaymentEvent
	if err := got[1].GetPayload().UnmarshalTo(&pe); err != nil {
		t.Fatal(err)
	}
	if pe.GetPayment().GetCapturedAmount().GetAmountMinor() != 400 || pe.GetOperation().GetType() != paymentv1.OperationType_OPERATION_TYPE_CAPTURE ||
		len(pe.GetPayment().GetTimeline()) != 0 {
		t.Fatalf("payload %v", &pe)
	}
}
