// Package fareapp is the fare service's composition root, the one place that constructs
// it: it reads the service's Config, builds the store (farepg), the domain (fare) and the
// transport (faregrpc), registers them on the server kit/serve runs, and runs the
// background work: the consumers of trip's ended and cancelled trips (ride fares) and of
// matching's zone supply/demand (automatic surge), the retry of fares that could not be
// priced yet, and the pruning of idempotency keys.
package fareapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/faregrpc"
	"github.com/waybill/waybill/services/fare/farepg"
)

// Name is the fare service's name: its database schema and its default ports' key
// (serve.DefaultPorts).
const Name = "fare"

// The consumers' names (their cursors and parked events are keyed by them).
const (
	// TripsConsumer prices trip's ended trips and late cancellations.
	TripsConsumer = "fares-from-trips"
	// ZonesConsumer derives the automatic surge from matching's zone counts.
	ZonesConsumer = "surge-from-matching-zones"
)

// Config is the fare service's own configuration; kit/serve reads what every service
// shares.
type Config struct {
	// PruneInterval is how often expired idempotency keys (older than 24 hours) are
	// deleted.
	PruneInterval time.Duration
	// TripAddr is the trip service's gRPC address, whose trip events fare prices; empty
	// disables the consumer (fares then come only from CalculateRideFare).
	TripAddr string
	// MatchingAddr is the matching service's gRPC address, whose zone supply/demand
	// events drive the automatic surge; empty disables it.
	MatchingAddr string
	// RetryInterval is how often trips whose fare could not be calculated yet are looked
	// at again (each waits its own backoff, see fare.RetryInitial).
	RetryInterval time.Duration

	// The settings below have no flags: tests set them.

	// DialOptions are added to the connections to trip and matching.
	DialOptions []grpc.DialOption
	// Reconnect paces resubscribing to trip's and matching's streams; zero uses the
	// consumer's default.
	Reconnect consumer.Backoff
}

// DefaultConfig returns the configuration used when no flag or environment variable
// sets one: trip and matching at their addresses in the local mesh.
func DefaultConfig() Config {
	return Config{PruneInterval: time.Hour, TripAddr: serve.DefaultAddr("trip"), MatchingAddr: serve.DefaultAddr("matching"),
		RetryInterval: 5 * time.Second}
}

// Flags binds c's fields to flags of fs (and so to WAYBILL_* environment variables, see
// kit/config), with c's values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PruneInterval, "idempotency-prune-interval", c.PruneInterval, "how often expired idempotency keys are deleted")
	fs.StringVar(&c.TripAddr, "trip-addr", c.TripAddr, "the trip service's gRPC address (host:port), whose ended trips fare prices (empty disables)")
	fs.StringVar(&c.MatchingAddr, "matching-addr", c.MatchingAddr, "the matching service's gRPC address (host:port), whose zone supply/demand drives the automatic surge (empty disables)")
	fs.DurationVar(&c.RetryInterval, "fare-retry-interval", c.RetryInterval, "how often trips whose fare could not be calculated yet are tried again")
}

// Validate reports a configuration the service cannot run with.
func (c Config) Validate() error {
	if c.PruneInterval <= 0 {
		return errors.New("--idempotency-prune-interval must be positive")
	}
	if c.RetryInterval <= 0 {
		return errors.New("--fare-retry-interval must be positive")
	}
	return nil
}

// Spec returns the fare service for kit/serve (and kit/grpctest): its migrations, event
// types, flags and Register, bound to a Config of its own that starts as DefaultConfig.
func Spec() serve.Spec { return SpecWith(DefaultConfig()) }

// SpecWith is Spec with c instead of DefaultConfig as the configuration flags start
// from: tests pass the addresses of the trip and matching servers they started (or none).
func SpecWith(c Config) serve.Spec {
	return serve.Spec{
		Name:       Name,
		Migrations: farepg.Migrations,
		EventTypes: fare.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds the fare service on d and registers its gRPC services on d.Server
// (FareService, and ConsumerAdminService for its consumers' parked events; the
// EventStreamService comes with the event log). d.Pool's search_path must be the fare
// schema, migrated with farepg.Migrations (serve does both; tests start the service with
// grpctest.Start(t, fareapp.Spec()) or a Spec whose Register calls Register with their
// Config). Events go to the service's event log (serve.Deps.EventLog). The background
// work runs until ctx ends, once the migrations are applied.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	logger := d.Logger
	log, _ := d.EventLog(ctx, Name, fare.EventTypes)
	store := farepg.New(d.Pool, farepg.Options{RateCardEvent: faregrpc.RateCardEvent, FareEvent: faregrpc.FareEvent, Notify: log.Notify})
	svc := fare.New(store, nil)
	farev1.RegisterFareServiceServer(d.Server.GRPC, faregrpc.New(svc))

	dial := append([]grpc.DialOption(nil), c.DialOptions...)
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(caller.Caller{Subject: Name, Role: caller.Service}))
	}
	type run struct {
		cfg consumer.Config
		h   consumer.Handler
	}
	var runs []run
	var conns []*grpc.ClientConn
	handlers := map[string]consumer.Handler{
		TripsConsumer: tripsHandler(svc, store),
		ZonesConsumer: zonesHandler(svc, store),
	}
	for _, src := range []struct{ name, source, addr, typ string }{
		{TripsConsumer, "trip", c.TripAddr, ""},
		{ZonesConsumer, "matching", c.MatchingAddr, faregrpc.ZoneSupplyDemand},
	} {
		if src.addr == "" {
			continue
		}
		conn, err := grpcclient.Dial(src.addr, grpcclient.Options{}, dial...)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return fmt.Errorf("fare: %s: %w", src.name, err)
		}
		conns = append(conns, conn)
		types := []string{src.typ}
		if src.source == "trip" {
			types = []string{faregrpc.TripEnded, faregrpc.TripCancelled}
		}
		cfg := consumer.Config{Name: src.name, Source: src.source, Client: eventsv1.NewEventStreamServiceClient(conn),
			Pool: d.Pool, Types: types, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL, Logger: logger,
			Notify: log.Notify, Reconnect: c.Reconnect}
		if d.Telemetry != nil {
			cfg.Meter = d.Telemetry.MeterProvider.Meter(Name)
			cfg.TracerProvider = d.Telemetry.TracerProvider
		}
		runs = append(runs, run{cfg, handlers[src.name]})
	}
	consumeradmin.Register(d.Server.GRPC, Name, consumer.NewParking(d.Pool, handlers, consumer.ParkingOptions{Notify: log.Notify}))

	go func() {
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		if !d.AwaitMigrations(ctx) { // the keys' and the consumers' tables must exist
			return
		}
		go idempotencypg.New(idempotencypg.Options{}).PruneEvery(ctx, d.Pool, c.PruneInterval, d.Logger)
		for _, r := range runs {
			go runConsumer(ctx, r.cfg, r.h, logger)
		}
		retryDue(ctx, svc, c.RetryInterval, logger)
	}()
	return nil
}

// tripsHandler prices trip's ended trips and late cancellations in the consumer's
// transaction: the fare, its event and the cursor commit together.
func tripsHandler(svc *fare.Service, store *farepg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		rec, ok, err := faregrpc.TripRecord(ev)
		if err != nil || !ok {
			return err
		}
		return svc.FinishTrip(ctx, store.RidesIn(tx), rec)
	}
}

// zonesHandler applies matching's zone counts to the automatic surge in the consumer's
// transaction.
func zonesHandler(svc *fare.Service, store *farepg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		z, ok, err := faregrpc.SupplyDemand(ev)
		if err != nil || !ok {
			return err
		}
		return svc.ApplySupplyDemand(ctx, store.ZonesIn(tx), z)
	}
}

// retryDue prices the trips whose fare could not be calculated yet, every interval,
// until ctx ends.
func retryDue(ctx context.Context, svc *fare.Service, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := svc.RetryDue(ctx, 100); err != nil && ctx.Err() == nil {
			logger.Error("retry pricing trips", slog.Any("error", err))
		}
	}
}

// runConsumer runs consumer cfg with handler h until ctx ends, restarting it (slowly)
// when it stops, which it does only when its cursor fell out of the source's retention.
func runConsumer(ctx context.Context, cfg consumer.Config, h consumer.Handler, logger *slog.Logger) {
	_, _ = backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, consumer.Run(ctx, cfg, h) },
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 30 * time.Second}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			logger.Error("consumer stopped", slog.String("consumer", cfg.Name), slog.Any("error", err), slog.Duration("restart_in", next))
		}))
}
