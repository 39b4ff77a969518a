package billingapp

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/billing/fareclient"
	"github.com/waybill/waybill/services/billing/paymentclient"
	"github.com/waybill/waybill/services/billing/providerclient"
)

// fareConsumer prepares billing's consumer of fare's fare.fare.calculated events, which
// puts each ride's fare on the rider's account (billing.BillRideFare), when c.FareAddr is
// set: it adds the consumer's handler to handlers (so its parked events can be
// replayed) and returns the function that runs it until ctx ends, a no-op when disabled.
// With payments, that function also collects the ride bills (billing.CollectRides)
// every c.RideCollectInterval.
func fareConsumer(c Config, dial []grpc.DialOption, pool *pgxpool.Pool, logger *slog.Logger, feed providerclient.FeedOptions,
	notify func(), svc *billing.Service, store *billingpg.Store, payments *paymentclient.Client, handlers map[string]consumer.Handler) func(context.Context) {
	if c.FareAddr == "" {
		return func(context.Context) {}
	}
	conn, err := grpcclient.Dial(c.FareAddr, grpcclient.Options{}, dial...)
	if err != nil { // only a malformed address gets here; Validate would be the place
		logger.Error("fare events: not consumed", slog.String("fare_addr", c.FareAddr), slog.Any("error", err))
		return func(context.Context) {}
	}
	h := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		f, ok, err := fareclient.RideFare(ev)
		if err != nil || !ok {
			return err
		}
		return svc.BillRideFare(ctx, store.RidesIn(tx), f)
	}
	handlers[fareclient.Consumer] = h
	cfg := consumer.Config{
		Name: fareclient.Consumer, Source: fareclient.Source, Client: eventsv1.NewEventStreamServiceClient(conn),
		Pool: pool, Types: []string{fareclient.EventCalculated}, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL,
		Logger: logger, Meter: feed.Meter, TracerProvider: feed.TracerProvider, Reconnect: c.FeedReconnect, Notify: notify,
		Group: c.ConsumerGroup,
	}
	return func(ctx context.Context) {
		defer conn.Close()
		if payments != nil {
			go collectRides(ctx, svc, store, payments, c.RideCollectInterval, logger)
		}
		runConsumer(ctx, cfg, h, logger)
	}
}

// collectRides starts the pay sagas of ride bills (billing.CollectRides) every interval
// (2 s for 0) until ctx ends.
func collectRides(ctx context.Context, svc *billing.Service, store *billingpg.Store, payments *paymentclient.Client, interval time.Duration, logger *slog.Logger) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := svc.CollectRides(ctx, store, payments, 50); err != nil && ctx.Err() == nil {
			logger.Error("collect ride fares", slog.Any("error", err))
		}
	}
}
