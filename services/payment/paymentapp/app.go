// Package paymentapp is the payment service's composition root, the only place that
// constructs its parts: it reads the service's Config, builds the store (paymentpg on
// kit/txn and idempotencypg), the processor adapter and the domain service, registers the
// gRPC transport and starts the background work.
package paymentapp

import (
	"context"
	"flag"
	"fmt"
	"time"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/payment/payment"
	"github.com/waybill/waybill/services/payment/paymentgrpc"
	"github.com/waybill/waybill/services/payment/paymentpg"
	"github.com/waybill/waybill/services/payment/simulator"
)

// Name is the service's name: its schema and its entry in the mesh (serve.DefaultPorts).
const Name = "payment"

// DefaultBackgroundInterval is how often the background work runs (reconciliation, expiry
// voids, token deletion, key expiry, the daily settlement).
const DefaultBackgroundInterval = 30 * time.Second

// Config is the payment service's own configuration.
type Config struct {
	// RequestHashKey keys the hash that stands for a request's parameters in its idempotency
	// key (CreatePaymentMethod's are card data); the same on every replica. Empty means
	// payment.DevHashKey, with a warning. Flag --payment-request-hash-key
	// (WAYBILL_PAYMENT_REQUEST_HASH_KEY).
	RequestHashKey string
	// BackgroundInterval is how often the background work runs; 0 disables it (tests drive
	// it themselves). Flag --payment-background-interval.
	BackgroundInterval time.Duration
	// Processor names the card processor adapter: "simulator", the only one built in. Flag
	// --payment-processor.
	Processor string

	// Service configures the domain beyond the flags (clock, lease, timeouts, test hooks);
	// its HashKey and Logger are set from RequestHashKey and the process's logger. Programs
	// (tests) set it; it has no flags.
	Service payment.Options
	// Adapter, when set, is the processor adapter instead of the one Processor names: tests
	// pass a simulator they inspect. It has no flag.
	Adapter payment.Processor
}

// DefaultConfig returns the defaults: the simulator, background work every 30 seconds, and
// the development request-hash key.
func DefaultConfig() Config {
	return Config{BackgroundInterval: DefaultBackgroundInterval, Processor: simulator.Name}
}

// Flags binds c's flags to fs, with c's values as their defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.RequestHashKey, "payment-request-hash-key", c.RequestHashKey,
		"key of the hash kept of each request's parameters (CreatePaymentMethod's are card data) for idempotency; the same on every replica")
	fs.DurationVar(&c.BackgroundInterval, "payment-background-interval", c.BackgroundInterval,
		"how often reconciliation, expiry voids, key expiry and the daily settlement run; 0 disables them")
	fs.StringVar(&c.Processor, "payment-processor", c.Processor, "card processor adapter: simulator")
}

// Validate reports a configuration the service cannot run with.
func (c Config) Validate() error {
	if c.BackgroundInterval < 0 {
		return fmt.Errorf("--payment-background-interval %v: must not be negative (0 disables the background work)", c.BackgroundInterval)
	}
	if c.Adapter == nil && c.Processor != simulator.Name {
		return fmt.Errorf("--payment-processor %q: want %s", c.Processor, simulator.Name)
	}
	return nil
}

// Register builds the payment service from c and registers its gRPC service on d.Server;
// its background work runs for the life of ctx, once the migrations are applied. The event
// log comes from d (serve.Deps.EventLog).
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	proc := c.Adapter
	if proc == nil {
		proc = simulator.New()
	}
	opts := c.Service
	opts.HashKey = []byte(c.RequestHashKey)
	if c.RequestHashKey == "" && d.Logger != nil {
		d.Logger.Warn("using the development request-hash key; set --payment-request-hash-key (WAYBILL_PAYMENT_REQUEST_HASH_KEY) in production")
	}
	if opts.Logger == nil {
		opts.Logger = d.Logger
	}
	if opts.Lease <= 0 {
		opts.Lease = payment.DefaultLease
	}
	events, _ := d.EventLog(ctx, Name, payment.EventTypes)
	store := paymentpg.New(d.Pool, paymentpg.Options{
		EventPayload: paymentgrpc.EventPayload,
		Notify:       events.Notify,
		// A busy operation and the key of its call are held for the same lease.
		Keys: idempotencypg.Options{Lease: opts.Lease, Now: opts.Now},
	})
	svc := payment.New(store, proc, opts)
	paymentv1.RegisterPaymentServiceServer(d.Server.GRPC, paymentgrpc.New(svc))
	if c.BackgroundInterval > 0 {
		go func() {
			if !d.AwaitMigrations(ctx) { // settlement and reconciliation need payment's tables
				return
			}
			_ = svc.RunBackground(ctx, c.BackgroundInterval)
		}()
	}
	return nil
}

// Spec returns the payment service's spec for serve.Run: its flags fill a Config of its
// own, which Register then uses.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       Name,
		Migrations: paymentpg.Migrations,
		EventTypes: payment.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}
