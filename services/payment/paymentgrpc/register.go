// Package paymentgrpc is the payment service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The payment service owns payment methods,
// authorize, capture, void, refund and settlement.
package paymentgrpc

import (
	"context"
	"flag"
	"time"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/payment/payment"
	"github.com/waybill/waybill/services/payment/paymentpg"
	"github.com/waybill/waybill/services/payment/simulator"
)

// DefaultBackgroundInterval is how often the background work runs (reconciliation, expiry
// voids, token deletion, key expiry, the daily settlement).
const DefaultBackgroundInterval = 30 * time.Second

// Options configures RegisterWithOptions; the zero value is what Register uses without flags.
type Options struct {
	// Processor is the card processor adapter; the built-in simulator when nil.
	Processor payment.Processor
	// Service configures the domain service (clock, leases, the request-hash key, test hooks).
	Service payment.Options
	// BackgroundInterval is how often the background work runs: 0 means
	// DefaultBackgroundInterval, negative disables it (tests drive it themselves).
	BackgroundInterval time.Duration
}

// flagConfig holds the values of the flags Flags adds.
var flagConfig struct {
	hashKey    string
	background time.Duration
}

// Flags adds the payment service's flags:
//
//	--payment-request-hash-key     key of the hash that stands for CreatePaymentMethod requests
//	                               (card data) in idempotency keys; the same on every replica
//	                               (WAYBILL_PAYMENT_REQUEST_HASH_KEY); a development key if empty
//	--payment-background-interval  how often reconciliation, expiry voids and the daily
//	                               settlement run (default 30s)
func Flags(fs *flag.FlagSet) {
	fs.StringVar(&flagConfig.hashKey, "payment-request-hash-key", "", "key of the hash kept of CreatePaymentMethod requests (card data) for idempotency; the same on every replica")
	fs.DurationVar(&flagConfig.background, "payment-background-interval", DefaultBackgroundInterval, "how often reconciliation, expiry voids and the daily settlement run")
}

// schema is the payment service's database schema (its Deps.Pool's search_path).
const schema = "payment"

// Register registers the payment service's gRPC services on the server, with the simulator
// as the processor, and starts its background work for the life of ctx: reconciliation,
// expiry voids and the daily settlement. The event log comes from serve.Deps.EventLog.
func Register(ctx context.Context, d serve.Deps) error {
	o := Options{BackgroundInterval: flagConfig.background}
	o.Service.HashKey = []byte(flagConfig.hashKey)
	if flagConfig.hashKey == "" && d.Logger != nil {
		d.Logger.Warn("using the development request-hash key; set --payment-request-hash-key (WAYBILL_PAYMENT_REQUEST_HASH_KEY) in production")
	}
	return RegisterWithOptions(ctx, d, o)
}

// RegisterWithOptions is Register with a processor, clock, leases and hooks of the caller's
// choosing; tests use it.
func RegisterWithOptions(ctx context.Context, d serve.Deps, o Options) error {
	proc := o.Processor
	if proc == nil {
		proc = simulator.New()
	}
	so := o.Service
	if so.Logger == nil {
		so.Logger = d.Logger
	}
	s := d.Server.GRPC
	events, _ := d.EventLog(ctx, schema, payment.EventTypes)
	store := paymentpg.New(d.Pool, paymentpg.Options{EventPayload: EventPayload, Notify: events.Notify})
	svc := payment.New(store, proc, so)
	paymentv1.RegisterPaymentServiceServer(s, New(svc))
	interval := o.BackgroundInterval
	if interval == 0 {
		interval = DefaultBackgroundInterval
	}
	if interval > 0 {
		go func() {
			if !d.AwaitMigrations(ctx) { // settlement and reconciliation need payment's tables
				return
			}
			_ = svc.RunBackground(ctx, interval)
		}()
	}
	return nil
}
