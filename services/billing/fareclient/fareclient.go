// Package fareclient is billing's adapter to the fare service: it reads fare's
// fare.fare.calculated events (the final fare of each ride, or a late cancellation's
// fee), which billing consumes to put rides on the riders' bills (billing.BillRideFare).
// Billing never calls fare; it only follows its event stream.
package fareclient

import (
	"time"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/billing/billing"
)

const (
	// Consumer is the name of billing's consumer of fare's events (its cursor's key).
	Consumer = "billing-from-fares"
	// Source is the fare service's name, as its event stream knows it.
	Source = "fare"
	// EventCalculated is the event type of a calculated fare.
	EventCalculated = "fare.fare.calculated"
)

// RideFare reads a fare.fare.calculated event; ok is false for another event type. A
// payload it cannot read is an INVALID_ARGUMENT error (the consumer parks the event).
func RideFare(ev *eventsv1.Event) (f billing.RideFare, ok bool, err error) {
	if ev.GetType() != EventCalculated {
		return billing.RideFare{}, false, nil
	}
	var fe farev1.FareEvent
	if ev.GetPayload() == nil || ev.GetPayload().UnmarshalTo(&fe) != nil || fe.GetFare() == nil {
		return billing.RideFare{}, false, errs.Invalid("payload", "event %s carries no waybill.fare.v1.FareEvent", ev.GetId())
	}
	x := fe.GetFare()
	f = billing.RideFare{
		TripID: x.GetTripId(), CustomerID: x.GetCustomerId(), City: x.GetCity(), Product: x.GetProduct(),
		DistanceMeters: x.GetDistanceMeters(),
		Total:          money.Money{Amount: x.GetTotal().GetAmountMinor(), Currency: x.GetTotal().GetCurrencyCode()},
	}
	if f.TripID == "" {
		f.TripID = ev.GetKey()
	}
	for _, l := range x.GetLines() {
		if l.GetCode() == "cancellation_fee" {
			f.CancellationFee = true
		}
	}
	if t := x.GetCreateTime(); t != nil {
		f.CalculateTime = t.AsTime().UTC().Truncate(time.Microsecond)
	}
	return f, true, nil
}
