// Package matchingapp is the matching service's composition root, the one place that
// constructs it: it reads the service's Config, builds the store (matchingpg), the
// driver index and the domain (matching) and the transport (matchinggrpc), registers
// them on the server kit/serve runs, and starts the background work (the index's
// rebuild, the location flusher and sweeper, the match dispatcher, the idempotency
// keys' pruning).
package matchingapp

import (
	"context"
	"errors"
	"flag"
	"sync/atomic"
	"time"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/matching/matching"
	"github.com/waybill/waybill/services/matching/matchinggrpc"
	"github.com/waybill/waybill/services/matching/matchingpg"
)

// Name is the matching service's name: its database schema and its default ports' key
// (serve.DefaultPorts).
const Name = "matching"

// Config is the matching service's own configuration; kit/serve reads what every service
// shares.
type Config struct {
	// StaleAfter is how old a driver's last location may be and still be searched (the
	// contract's freshness limit, 60 seconds by default).
	StaleAfter time.Duration
	// FlushInterval is how often accepted location fixes are written to PostgreSQL, in
	// one batch: what a crash may lose, and how far behind a restarted replica's index
	// starts.
	FlushInterval time.Duration
	// SweepInterval is how often stale locations are taken out of the index.
	SweepInterval time.Duration
	// PruneInterval is how often expired idempotency keys (older than 24 hours) are
	// deleted.
	PruneInterval time.Duration
	// MinOfferTimeout is the shortest offer_timeout CreateMatch accepts: the contract's
	// 5 seconds; tests lower it to run offers out quickly.
	MinOfferTimeout time.Duration
	// DispatchWorkers is how many matches this process steps at once (attempts, offer
	// expiry); replicas share the work.
	DispatchWorkers int
	// DispatchPoll is the longest the dispatcher sleeps without looking for due
	// matches (other replicas' commits do not wake it).
	DispatchPoll time.Duration
	// OfferHeartbeat is how often WatchDriverOffers sends a heartbeat while idle.
	OfferHeartbeat time.Duration
	// OfferWatchPoll is how often WatchDriverOffers looks for changes made by other
	// replicas.
	OfferWatchPoll time.Duration
	// ZoneInterval is how often each zone's supply and demand is counted and, where it
	// changed, emitted (matching.zone.supply_demand).
	ZoneInterval time.Duration
}

// DefaultConfig returns the configuration used when no flag or environment variable
// sets one.
func DefaultConfig() Config {
	return Config{
		StaleAfter:    matching.DefaultStaleAfter,
		FlushInterval: time.Second,
		SweepInterval: 10 * time.Second,
		PruneInterval: time.Hour,

		MinOfferTimeout: matching.MinOfferTimeout,
		DispatchWorkers: 2,
		DispatchPoll:    time.Second,
		OfferHeartbeat:  matching.DefaultHeartbeat,
		OfferWatchPoll:  matching.DefaultWatchPoll,
		ZoneInterval:    matching.DefaultZoneInterval,
	}
}

// Flags binds c's fields to flags of fs (and so to WAYBILL_* environment variables, see
// kit/config), with c's values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.StaleAfter, "location-stale-after", c.StaleAfter, "how old a driver's last location may be and still be searched")
	fs.DurationVar(&c.FlushInterval, "location-flush-interval", c.FlushInterval, "how often accepted driver locations are written to the database, in one batch")
	fs.DurationVar(&c.SweepInterval, "location-sweep-interval", c.SweepInterval, "how often stale driver locations are taken out of the search index")
	fs.DurationVar(&c.PruneInterval, "idempotency-prune-interval", c.PruneInterval, "how often expired idempotency keys are deleted")
	fs.DurationVar(&c.MinOfferTimeout, "min-offer-timeout", c.MinOfferTimeout, "the shortest offer_timeout CreateMatch accepts (the contract's 5s; lower only in tests)")
	fs.IntVar(&c.DispatchWorkers, "dispatch-workers", c.DispatchWorkers, "how many matches this process steps at once")
	fs.DurationVar(&c.DispatchPoll, "dispatch-poll-interval", c.DispatchPoll, "the longest the dispatcher sleeps without looking for due matches")
	fs.DurationVar(&c.OfferHeartbeat, "offer-heartbeat", c.OfferHeartbeat, "how often WatchDriverOffers sends a heartbeat while idle")
	fs.DurationVar(&c.OfferWatchPoll, "offer-watch-poll", c.OfferWatchPoll, "how often WatchDriverOffers looks for changes made by other replicas")
	fs.DurationVar(&c.ZoneInterval, "zone-interval", c.ZoneInterval, "how often each zone's supply and demand is counted and emitted where it changed")
}

// Validate reports a configuration the service cannot run with.
func (c Config) Validate() error {
	var errList []error
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--location-stale-after", c.StaleAfter},
		{"--location-flush-interval", c.FlushInterval},
		{"--location-sweep-interval", c.SweepInterval},
		{"--idempotency-prune-interval", c.PruneInterval},
		{"--min-offer-timeout", c.MinOfferTimeout},
		{"--dispatch-poll-interval", c.DispatchPoll},
		{"--offer-heartbeat", c.OfferHeartbeat},
		{"--offer-watch-poll", c.OfferWatchPoll},
		{"--zone-interval", c.ZoneInterval},
	} {
		if d.value <= 0 {
			errList = append(errList, errors.New(d.flag+" must be positive"))
		}
	}
	if c.MinOfferTimeout > matching.MaxOfferTimeout {
		errList = append(errList, errors.New("--min-offer-timeout must be at most "+matching.MaxOfferTimeout.String()))
	}
	if c.DispatchWorkers <= 0 {
		errList = append(errList, errors.New("--dispatch-workers must be positive"))
	}
	return errors.Join(errList...)
}

// Spec returns the matching service for kit/serve (and kit/grpctest): its migrations,
// event types, flags and Register, bound to a Config of its own that starts as
// DefaultConfig.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       Name,
		Migrations: matchingpg.Migrations,
		EventTypes: matching.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds the matching service on d and registers its gRPC services on
// d.Server. d.Pool's search_path must be the matching schema, migrated with
// matchingpg.Migrations (serve does both; tests start the service with
// grpctest.Start(t, matchingapp.Spec())). Events go to the service's event log
// (serve.Deps.EventLog). The server reports NOT_SERVING until the driver index has been
// rebuilt from the stored locations; the dispatcher (attempts, offer expiry) starts
// then.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	log, _ := d.EventLog(ctx, Name, matching.EventTypes)
	keys := idempotencypg.New(idempotencypg.Options{})
	store := matchingpg.New(d.Pool, matchingpg.Options{Encode: matchinggrpc.EventPayload, Notify: log.Notify, Keys: keys})
	index := matching.NewIndex(matching.IndexOptions{StaleAfter: c.StaleAfter})
	svc := matching.New(store, index, matching.Options{
		MinOfferTimeout: c.MinOfferTimeout, Heartbeat: c.OfferHeartbeat, WatchPoll: c.OfferWatchPoll,
	})
	matchingv1.RegisterMatchingServiceServer(d.Server.GRPC, matchinggrpc.New(svc))

	var rebuilt atomic.Bool
	d.Server.AddReadinessCheck(func(context.Context) error {
		if !rebuilt.Load() {
			return errors.New("the driver index is not rebuilt yet")
		}
		return nil
	})
	go func() {
		if d.AwaitMigrations(ctx) { // the tables must exist
			svc.Run(ctx, matching.RunOptions{
				FlushInterval: c.FlushInterval, SweepInterval: c.SweepInterval, Logger: d.Logger,
				Rebuilt: func() {
					rebuilt.Store(true)
					// Attempts search the index: the dispatcher starts once it is whole.
					go svc.RunDispatcher(ctx, matching.DispatchOptions{Workers: c.DispatchWorkers, Poll: c.DispatchPoll, Logger: d.Logger})
					go svc.RunZones(ctx, c.ZoneInterval, d.Logger)
				},
			})
		}
	}()
	go func() {
		if d.AwaitMigrations(ctx) {
			keys.PruneEvery(ctx, d.Pool, c.PruneInterval, d.Logger)
		}
	}()
	go func() {
		if d.AwaitMigrations(ctx) {
			svc.RunOfferWatch(ctx, d.Logger)
		}
	}()
	return nil
}
