// Package billingapp is the billing service's composition root, the one place that
// constructs its parts: from a Config and the process's serve.Deps it builds the storage
// (billingpg), the clients of the providers (providerclient) and of the payment service
// (paymentclient), the domain (billing.Service and the pay saga's Runner) and the
// transport (billinggrpc), registers the gRPC services, and runs the background work
// until the context ends: the providers' feeds into the read model, the saga runner, the
// consumer of the payment service's settlements and the pruning of idempotency keys.
package billingapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billinggrpc"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/billing/paymentclient"
	"github.com/waybill/waybill/services/billing/providerclient"
)

// name is the service's name: its database schema, its ports' entry in serve's table
// and the subject of its calls to other services.
const name = "billing"

// meshKinds says which service of the mesh owns each kind of reservation.
var meshKinds = []struct{ kind, service string }{
	{"flight", "booking"}, {"train", "booking"}, {"bus", "booking"}, {"stay", "booking"},
	{"ride", "trip"},
}

// MeshProviders returns the --providers value for the mesh's own providers (booking for
// seats and stays, trip for rides) at the addresses addr gives for each service's name:
// serve.DefaultAddr for the defaults, `waybill up` for its ports.
func MeshProviders(addr func(service string) string) string {
	parts := make([]string, len(meshKinds))
	for i, k := range meshKinds {
		parts[i] = k.kind + "=" + k.service + "@" + addr(k.service)
	}
	return strings.Join(parts, ",")
}

// Config is billing's own configuration; serve.Config holds what every service shares.
type Config struct {
	// Providers maps kinds to providers, "kind=provider@host:port,…" (see
	// providerclient.ParseConfig).
	Providers string
	// DetailsTimeout is each provider's deadline for a page's details.
	DetailsTimeout time.Duration
	// StaleAfter is how far behind its provider's stream an item's summary may be before
	// it is reported STALE.
	StaleAfter time.Duration
	// StandingGrace and StandingBlock are the periods after which an unpaid finalized
	// bill makes its customer PAST_DUE and BLOCKED.
	StandingGrace, StandingBlock time.Duration
	// BreakerFailures and BreakerCooldown tune the providers' circuit breakers.
	BreakerFailures int
	BreakerCooldown time.Duration
	// PaymentAddr is the payment service's address; empty disables PayBill (it answers
	// UNAVAILABLE) and the consumer of payment events.
	PaymentAddr string
	// KeyPruneInterval is how often idempotency keys past their lifetime (24 hours) are
	// deleted; 0 disables the pruning.
	KeyPruneInterval time.Duration
	// AccountAddr is the account service's address, whose suspension events feed the gate
	// that refuses suspended customers' payments (kit/accountgate); empty disables it.
	AccountAddr string
	// FareAddr is the fare service's address, whose fare.fare.calculated events put rides
	// on the riders' bills (rides.go); empty disables it.
	FareAddr string
	// ConsumerGroup, with Partitions above 0, runs the consumers of payment settlements
	// and of fares as consumer groups shared by billing's replicas (kit/consumer's Group;
	// flags --consumer-partitions, --consumer-member, --consumer-lease).
	ConsumerGroup consumer.Group

	// The settings below have no flags: tests and benchmarks set them.

	// DialOptions are added to the provider and payment connections (tests count calls
	// with them).
	DialOptions []grpc.DialOption
	// DetailsBatchSize caps the ids per GetReservationDetails call; 0 means the contract's
	// maximum. Benchmarks set 1 to measure one call per item.
	DetailsBatchSize int
	// DetailsCacheSize is how many reservations' details (per view) pages serve without
	// asking their provider again while billing's summary of them is FRESH and of the same
	// version (billing/detailscache.go); 0 means billing.DefaultDetailsCacheSize, -1
	// keeps none.
	DetailsCacheSize int
	// FeedReconnect paces resubscribing to a provider's (or payment's) stream; zero uses
	// the consumer's default.
	FeedReconnect consumer.Backoff
	// WatchHeartbeat is WatchBills' heartbeat interval; 0 means 15 s.
	WatchHeartbeat time.Duration
	// Saga tunes the pay saga runner (lease, backoff, deadlines, test hooks).
	Saga billing.RunnerOptions
	// RideCollectInterval is how often ride bills are collected (rides.go); 0 means 2 s.
	RideCollectInterval time.Duration
}

// DefaultConfig returns billing's defaults: the mesh's providers and payment service at
// their addresses in the local mesh (serve.DefaultAddr).
func DefaultConfig() Config {
	return Config{
		Providers:        MeshProviders(serve.DefaultAddr),
		DetailsTimeout:   billing.DefaultDetailsTimeout,
		StaleAfter:       providerclient.DefaultStaleAfter,
		StandingGrace:    billing.DefaultGrace,
		StandingBlock:    billing.DefaultBlock,
		BreakerFailures:  3,
		BreakerCooldown:  2 * time.Second,
		PaymentAddr:      serve.DefaultAddr("payment"),
		KeyPruneInterval: time.Hour,
		AccountAddr:      serve.DefaultAddr("account"),
		FareAddr:         serve.DefaultAddr("fare"),
	}
}

// Flags binds c's settings to flags on fs (and so to WAYBILL_<FLAG> variables), with c's
// values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Providers, "providers", c.Providers,
		"reservation providers, one per kind: kind=provider@host:port,… (kind: flight, train, bus, stay, ride or a kind number)")
	fs.DurationVar(&c.DetailsTimeout, "provider-timeout", c.DetailsTimeout, "each provider's deadline for a page's details")
	fs.DurationVar(&c.StaleAfter, "provider-stale-after", c.StaleAfter, "how far behind a provider's event stream items are reported stale")
	fs.IntVar(&c.DetailsCacheSize, "provider-details-cache", c.DetailsCacheSize,
		"how many reservations' details pages serve from billing's copy while its summary of them is fresh and of the same version (0: the default, -1: none)")
	fs.IntVar(&c.BreakerFailures, "provider-breaker-failures", c.BreakerFailures, "consecutive failed calls that open a provider's circuit")
	fs.DurationVar(&c.BreakerCooldown, "provider-breaker-cooldown", c.BreakerCooldown, "how long an open circuit fails fast before probing the provider")
	fs.DurationVar(&c.StandingGrace, "standing-grace", c.StandingGrace, "unpaid time after which a customer is PAST_DUE")
	fs.DurationVar(&c.StandingBlock, "standing-block", c.StandingBlock, "unpaid time after which a customer is BLOCKED")
	fs.StringVar(&c.PaymentAddr, "payment-addr", c.PaymentAddr, "the payment service's gRPC address (host:port), for PayBill's saga and settlements (empty disables them)")
	fs.DurationVar(&c.KeyPruneInterval, "idempotency-prune-interval", c.KeyPruneInterval, "how often expired idempotency keys are deleted (0 disables)")
	fs.StringVar(&c.FareAddr, "fare-addr", c.FareAddr, "the fare service's gRPC address (host:port), whose calculated fares put rides on bills (empty disables)")
	fs.StringVar(&c.AccountAddr, "account-addr", c.AccountAddr, "the account service's gRPC address (host:port), whose suspensions refuse payments (empty disables)")
	c.ConsumerGroup.Flags(fs)
}

// Validate reports settings billing cannot run with.
func (c Config) Validate() error {
	var problems []error
	if _, err := providerclient.ParseConfig(c.Providers); err != nil {
		problems = append(problems, fmt.Errorf("--providers: %w", err))
	}
	positive := []struct {
		flag string
		d    time.Duration
	}{
		{"--provider-timeout", c.DetailsTimeout}, {"--provider-stale-after", c.StaleAfter},
		{"--provider-breaker-cooldown", c.BreakerCooldown}, {"--standing-grace", c.StandingGrace},
		{"--standing-block", c.StandingBlock},
	}
	for _, p := range positive {
		if p.d <= 0 {
			problems = append(problems, fmt.Errorf("%s must be positive, not %v", p.flag, p.d))
		}
	}
	if c.StandingBlock < c.StandingGrace {
		problems = append(problems, fmt.Errorf("--standing-block (%v) must not be shorter than --standing-grace (%v)", c.StandingBlock, c.StandingGrace))
	}
	if c.BreakerFailures < 1 {
		problems = append(problems, fmt.Errorf("--provider-breaker-failures must be at least 1, not %d", c.BreakerFailures))
	}
	if c.KeyPruneInterval < 0 {
		problems = append(problems, fmt.Errorf("--idempotency-prune-interval must not be negative, not %v", c.KeyPruneInterval))
	}
	if c.DetailsCacheSize < -1 {
		problems = append(problems, fmt.Errorf("--provider-details-cache must be -1 (none), 0 (the default) or a size, not %d", c.DetailsCacheSize))
	}
	if c.DetailsBatchSize < 0 || c.DetailsBatchSize > providerclient.MaxBatch {
		problems = append(problems, fmt.Errorf("details batch size must be from 0 to %d, not %d", providerclient.MaxBatch, c.DetailsBatchSize))
	}
	return errors.Join(problems...)
}

// Spec returns billing's spec for kit/serve: its schema and migrations, its event types,
// its flags, bound to a Config of its own, and Register with that Config.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       name,
		Migrations: billingpg.Migrations,
		EventTypes: billing.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds billing from c on d and registers its gRPC services on d.Server
// (BillingService and ConsumerAdminService; EventStreamService comes with the event log,
// serve.Deps.EventLog). Its background work runs until ctx ends, once the migrations
// are applied. d.Pool's search_path must be the billing schema, migrated with
// billingpg.Migrations (serve does both; tests use grpctest.Start with a Spec whose
// Register calls Register with their Config).
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("billing config: %w", err)
	}
	if d.Pool == nil || d.Server == nil {
		return errors.New("billing: Deps needs a pool and a server")
	}
	logger := d.Logger
	pcfg, _ := providerclient.ParseConfig(c.Providers) // checked by Validate
	log, stream := d.EventLog(ctx, name, billing.EventTypes)
	store := billingpg.New(d.Pool, billingpg.Options{BillEvent: billinggrpc.BillEvent, Notify: log.Notify})
	dial := append([]grpc.DialOption(nil), c.DialOptions...)
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(caller.Caller{Subject: name, Role: caller.Service}))
	}
	providers, err := providerclient.New(pcfg, providerclient.Options{
		BatchSize:   c.DetailsBatchSize,
		Breaker:     providerclient.BreakerOptions{Failures: c.BreakerFailures, Cooldown: c.BreakerCooldown},
		StaleAfter:  c.StaleAfter,
		DialOptions: dial,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	var payments *paymentclient.Client
	if c.PaymentAddr != "" {
		if payments, err = paymentclient.Dial(c.PaymentAddr, dial...); err != nil {
			_ = providers.Close()
			return err
		}
	}

	var runner *billing.Runner
	opts := billing.Options{DetailsTimeout: c.DetailsTimeout, Grace: c.StandingGrace, Block: c.StandingBlock,
		DetailsCacheSize: c.DetailsCacheSize}
	if payments != nil {
		opts.Payments, opts.Sagas = payments, store
		opts.SagaStarted = func() { runner.Wake() }
	}
	gate, err := accountgate.Start(ctx, d, c.AccountAddr, name, c.DialOptions...)
	if err != nil {
		_ = providers.Close()
		if payments != nil {
			_ = payments.Close()
		}
		return err
	}
	opts.Gate = gate
	svc := billing.New(store, providers, opts)
	if payments != nil {
		ro := c.Saga
		if ro.Logger == nil {
			ro.Logger = logger.With(slog.String("component", "pay-saga"))
		}
		runner = billing.NewRunner(svc, store, payments, providers, ro)
	}

	billingv1.RegisterBillingServiceServer(d.Server.GRPC, billinggrpc.New(svc, billinggrpc.Options{
		Providers: providers, Events: stream, Heartbeat: c.WatchHeartbeat,
		// WatchBills reads billing's own log in process. Its snapshot starts at a head
		// that covers what is committed, so that the live part repeats as little as
		// possible.
		Head: func(ctx context.Context) (int64, error) {
			if _, err := log.Sequence(ctx); err != nil {
				return 0, err
			}
			return log.Head(ctx)
		},
	}))

	feed := providerclient.FeedOptions{Pool: d.Pool, Sink: store, Notify: log.Notify, Reconnect: c.FeedReconnect, Restart: restartBackoff}
	if d.Telemetry != nil {
		feed.Meter = d.Telemetry.MeterProvider.Meter(name)
		feed.TracerProvider = d.Telemetry.TracerProvider
	}
	handlers := providers.Handlers(feed)
	handlers[accountgate.ConsumerName] = accountgate.Handle
	runFares := fareConsumer(c, dial, d.Pool, logger, feed, log.Notify, svc, store, payments, handlers) // rides.go
	var settlements consumer.Config
	if payments != nil {
		settlements = consumer.Config{
			Name: paymentclient.SettlementsConsumer, Source: "payment", Client: eventsv1.NewEventStreamServiceClient(payments.Conn()),
			Pool: d.Pool, Types: []string{paymentclient.EventSettled}, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL,
			Logger: logger, Meter: feed.Meter, TracerProvider: feed.TracerProvider, Reconnect: c.FeedReconnect,
			Notify: log.Notify, Group: c.ConsumerGroup,
		}
		handlers[paymentclient.SettlementsConsumer] = settleHandler(svc, store)
	}
	consumeradmin.Register(d.Server.GRPC, name, consumer.NewParking(d.Pool, handlers,
		consumer.ParkingOptions{Notify: log.Notify, TracerProvider: feed.TracerProvider}))

	go func() {
		if !d.AwaitMigrations(ctx) { // the feeds and the runner need billing's tables
			return
		}
		var wg sync.WaitGroup
		if c.KeyPruneInterval > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				idempotencypg.New(idempotencypg.Options{}).PruneEvery(ctx, d.Pool, c.KeyPruneInterval, logger)
			}()
		}
		if payments != nil {
			wg.Add(2)
			go func() { defer wg.Done(); _ = runner.Run(ctx) }()
			go func() {
				defer wg.Done()
				runConsumer(ctx, settlements, handlers[paymentclient.SettlementsConsumer], logger)
			}()
		}
		go runFares(ctx)
		providers.RunFeeds(ctx, feed)
		wg.Wait()
		_ = providers.Close()
		if payments != nil {
			_ = payments.Close()
		}
	}()
	return nil
}

// settleHandler applies the payment service's events in the consumer's transaction: a
// payment whose every capture settled makes its PAID bill SETTLED (billing's use case,
// Service.SettlePayment), and the bill's event commits with the consumer's cursor.
func settleHandler(svc *billing.Service, store *billingpg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		paymentID, err := paymentclient.SettledPayment(ev)
		if err != nil || paymentID == "" {
			return err
		}
		_, err = svc.SettlePayment(ctx, store.SettlementsIn(tx), paymentID)
		return err
	}
}

// restartBackoff paces restarting a consumer whose Run stopped before ctx ended, which it
// does only when its cursor fell out of the source's retention: nothing changes until an
// operator resets the cursor, so the restarts slow down to one every 30 s.
func restartBackoff() backoff.BackOff {
	return &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: 30 * time.Second}
}

// runConsumer runs consumer cfg with handler h until ctx ends, restarting it with
// restartBackoff.
func runConsumer(ctx context.Context, cfg consumer.Config, h consumer.Handler, logger *slog.Logger) {
	_, _ = backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, consumer.Run(ctx, cfg, h) },
		backoff.WithBackOff(restartBackoff()), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			logger.Error("consumer stopped", slog.String("consumer", cfg.Name), slog.Any("error", err), slog.Duration("restart_in", next))
		}))
}
