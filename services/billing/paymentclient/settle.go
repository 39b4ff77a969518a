package paymentclient

import (
	"fmt"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
)

// SettlementsConsumer is the name of billing's consumer of the payment service's events;
// it keys its cursor and dead letters.
const SettlementsConsumer = "bills-from-payment"

// EventSettled is the payment event that settles a PAID bill.
const EventSettled = "payment.payment.settled"

// SettledPayment reads a payment event: it returns the payment's id when ev says that
// every capture of the payment is settled (`payment.settle_time` set), and "" for any
// other event.
func SettledPayment(ev *eventsv1.Event) (string, error) {
	if ev.GetType() != EventSettled || ev.GetPayload() == nil {
		return "", nil
	}
	var pe paymentv1.PaymentEvent
	if err := ev.GetPayload().UnmarshalTo(&pe); err != nil {
		return "", fmt.Errorf("decode %s: %w", ev.GetType(), err)
	}
	if p := pe.GetPayment(); p.GetSettleTime() != nil {
		return p.GetId(), nil
	}
	return "", nil
}
