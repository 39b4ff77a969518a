package fareclient_test

import (
	"testing"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/billing/fareclient"
)

func TestRideFare(t *testing.T) {
	payload := func(f *farev1.Fare) *anypb.Any {
		a, err := anypb.New(&farev1.FareEvent{Fare: f})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	fee := &farev1.Fare{TripId: "t-1", CustomerId: "c-1", City: "berlin", Product: "standard", CreateTime: timestamppb.Now(),
		Lines: []*farev1.PriceLine{{Code: "cancellation_fee", Amount: &typev1.Money{AmountMinor: 800, CurrencyCode: "EUR"}}},
		Total: &typev1.Money{AmountMinor: 800, CurrencyCode: "EUR"}}
	f, ok, err := fareclient.RideFare(&eventsv1.Event{Type: fareclient.EventCalculated, Key: "t-1", Payload: payload(fee)})
	if err != nil || !ok || f.TripID != "t-1" || f.CustomerID != "c-1" || f.Total.Amount != 800 || f.Total.Currency != "EUR" ||
		!f.CancellationFee || f.CalculateTime.IsZero() {
		t.Fatalf("RideFare = %+v, %v, %v", f, ok, err)
	}
	// The key stands in for a missing trip id.
	noID := &farev1.Fare{CustomerId: "c-1", Total: &typev1.Money{AmountMinor: 1, CurrencyCode: "EUR"}}
	if f, _, _ := fareclient.RideFare(&eventsv1.Event{Type: fareclient.EventCalculated, Key: "t-2", Payload: payload(noID)}); f.TripID != "t-2" || f.CancellationFee {
		t.Fatalf("fare without a trip id: %+v", f)
	}
	// Other types are not for this consumer; an unreadable payload is the event's fault.
	if _, ok, err := fareclient.RideFare(&eventsv1.Event{Type: "fare.rate_card.updated"}); ok || err != nil {
		t.Fatalf("another type: %v, %v", ok, err)
	}
	for _, ev := range []*eventsv1.Event{
		{Type: fareclient.EventCalculated},
		{Type: fareclient.EventCalculated, Payload: &anypb.Any{TypeUrl: "type.googleapis.com/waybill.fare.v1.FareEvent", Value: []byte{0xff}}},
	} {
		if _, ok, err := fareclient.RideFare(ev); ok || errs.KindOf(err) != errs.InvalidArgument {
			t.Fatalf("unreadable payload %v: %v, %v", ev, ok, err)
		}
	}
}
