package billinggrpc

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billingpg"
)

// settlementsConsumer is the consumer of the payment service's events; it keys its cursor
// and dead letters.
const settlementsConsumer = "bills-from-payment"

// paymentSettled is the payment event that settles a PAID bill.
const paymentSettled = "payment.payment.settled"

// settleHandler applies "payment.payment.settled": once every capture of the payment is
// settled (`payment.settle_time` set), the PAID bill of that payment becomes SETTLED, in
// the consumer's transaction, which also emits the bill's event.
func settleHandler(store *billingpg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if ev.GetType() != paymentSettled || ev.GetPayload() == nil {
			return nil
		}
		var pe paymentv1.PaymentEvent
		if err := ev.GetPayload().UnmarshalTo(&pe); err != nil {
			return fmt.Errorf("decode %s: %w", ev.GetType(), err)
		}
		p := pe.GetPayment()
		if p.GetSettleTime() == nil || p.GetId() == "" {
			return nil
		}
		_, err := store.SettlePayment(ctx, tx, p.GetId(), time.Now().UTC().Truncate(time.Microsecond))
		return err
	}
}

// runSettlements runs the consumer of the payment service's events until ctx ends.
func runSettlements(ctx context.Context, cfg consumer.Config, h consumer.Handler, logger *slog.Logger) {
	for ctx.Err() == nil {
		if err := consumer.Run(ctx, cfg, h); err != nil && ctx.Err() == nil {
			logger.Error("payment events consumer stopped", slog.Any("error", err))
			t := time.NewTimer(30 * time.Second)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}
