// Package fareapp is the fare service's composition root, the one place that constructs
// it: it reads the service's Config, builds the store (farepg), the domain (fare) and the
// transport (faregrpc), and registers them on the server kit/serve runs.
package fareapp

import (
	"context"
	"errors"
	"flag"
	"time"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/faregrpc"
	"github.com/waybill/waybill/services/fare/farepg"
)

// Name is the fare service's name: its database schema and its default ports' key
// (serve.DefaultPorts).
const Name = "fare"

// Config is the fare service's own configuration; kit/serve reads what every service
// shares.
type Config struct {
	// PruneInterval is how often expired idempotency keys (older than 24 hours) are
	// deleted.
	PruneInterval time.Duration
}

// DefaultConfig returns the configuration used when no flag or environment variable
// sets one.
func DefaultConfig() Config {
	return Config{PruneInterval: time.Hour}
}

// Flags binds c's fields to flags of fs (and so to WAYBILL_* environment variables, see
// kit/config), with c's values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PruneInterval, "idempotency-prune-interval", c.PruneInterval, "how often expired idempotency keys are deleted")
}

// Validate reports a configuration the service cannot run with.
func (c Config) Validate() error {
	if c.PruneInterval <= 0 {
		return errors.New("--idempotency-prune-interval must be positive")
	}
	return nil
}

// Spec returns the fare service for kit/serve (and kit/grpctest): its migrations, event
// types, flags and Register, bound to a Config of its own that starts as DefaultConfig.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       Name,
		Migrations: farepg.Migrations,
		EventTypes: fare.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds the fare service on d and registers its gRPC services on d.Server.
// d.Pool's search_path must be the fare schema, migrated with farepg.Migrations (serve
// does both; tests start the service with grpctest.Start(t, fareapp.Spec())). Events
// go to the service's event log (serve.Deps.EventLog: the runner's, or one made here
// when Register runs without the runner). Ride fares (CalculateRideFare, GetFare,
// ListFares) answer UNIMPLEMENTED; fare consumes no events, so it serves no
// ConsumerAdminService.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	log, _ := d.EventLog(ctx, Name, fare.EventTypes)
	store := farepg.New(d.Pool, farepg.Options{RateCardEvent: faregrpc.RateCardEvent, Notify: log.Notify})
	farev1.RegisterFareServiceServer(d.Server.GRPC, faregrpc.New(fare.New(store, nil)))
	go func() {
		if d.AwaitMigrations(ctx) { // the keys' table must exist
			idempotencypg.New(idempotencypg.Options{}).PruneEvery(ctx, d.Pool, c.PruneInterval, d.Logger)
		}
	}()
	return nil
}
