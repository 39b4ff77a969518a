// Package billinggrpc is the billing service's gRPC transport: handlers that validate,
// convert, call the domain and convert back, and the wiring of the service: its storage,
// its providers (from configuration), the feeds of the providers' event streams into the
// read model, its own event stream and its consumers' admin service. The billing service
// owns bills across providers, the operator panel's read model and the pay saga.
package billinggrpc

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/billing/paymentclient"
	"github.com/waybill/waybill/services/billing/providerclient"
)

// schema is the billing service's database schema (its Deps.Pool's search_path).
const schema = "billing"

// EventTypes lists the event types billing emits, for serve.Spec.EventTypes.
var EventTypes = billing.EventTypes

// DefaultProviders is the local mesh's providers: booking for seats and stays, trip for
// rides.
const DefaultProviders = "flight=booking@127.0.0.1:7001,train=booking@127.0.0.1:7001,bus=booking@127.0.0.1:7001," +
	"stay=booking@127.0.0.1:7001,ride=trip@127.0.0.1:7003"

// Config is billing's own configuration.
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

	// DialOptions are added to the provider connections (tests count calls with them).
	DialOptions []grpc.DialOption
	// DetailsBatchSize caps the ids per GetReservationDetails call; 0 means the contract's
	// maximum. Benchmarks set 1 to measure one call per item.
	DetailsBatchSize int
	// FeedReconnect paces resubscribing to a provider's stream; zero uses the consumer's
	// default.
	FeedReconnect consumer.Backoff
	// WatchHeartbeat is WatchBills' heartbeat interval (default 15 s).
	WatchHeartbeat time.Duration

	// PaymentAddr is the payment service's address; empty disables PayBill (it answers
	// UNAVAILABLE) and the consumer of payment events.
	PaymentAddr string
	// Saga tunes the pay saga runner (lease, backoff, deadlines, test hooks).
	Saga billing.RunnerOptions
}

// DefaultConfig returns the configuration the flags start from.
func DefaultConfig() Config {
	return Config{
		Providers:       DefaultProviders,
		DetailsTimeout:  billing.DefaultDetailsTimeout,
		StaleAfter:      providerclient.DefaultStaleAfter,
		StandingGrace:   billing.DefaultGrace,
		StandingBlock:   billing.DefaultBlock,
		BreakerFailures: 3,
		BreakerCooldown: 2 * time.Second,
		PaymentAddr:     paymentclient.DefaultAddr,
	}
}

// flagConfig is what Flags binds and Register uses.
var flagConfig = DefaultConfig()

// Flags adds billing's flags to fs: --providers, --provider-timeout,
// --provider-stale-after, --provider-breaker-failures, --provider-breaker-cooldown,
// --standing-grace, --standing-block and --payment-addr.
func Flags(fs *flag.FlagSet) {
	fs.StringVar(&flagConfig.Providers, "providers", flagConfig.Providers,
		"reservation providers, one per kind: kind=provider@host:port,… (kind: flight, train, bus, stay, ride or a kind number)")
	fs.DurationVar(&flagConfig.DetailsTimeout, "provider-timeout", flagConfig.DetailsTimeout, "each provider's deadline for a page's details")
	fs.DurationVar(&flagConfig.StaleAfter, "provider-stale-after", flagConfig.StaleAfter, "how far behind a provider's event stream items are reported stale")
	fs.IntVar(&flagConfig.BreakerFailures, "provider-breaker-failures", flagConfig.BreakerFailures, "consecutive failed calls that open a provider's circuit")
	fs.DurationVar(&flagConfig.BreakerCooldown, "provider-breaker-cooldown", flagConfig.BreakerCooldown, "how long an open circuit fails fast before probing the provider")
	fs.DurationVar(&flagConfig.StandingGrace, "standing-grace", flagConfig.StandingGrace, "unpaid time after which a customer is PAST_DUE")
	fs.DurationVar(&flagConfig.StandingBlock, "standing-block", flagConfig.StandingBlock, "unpaid time after which a customer is BLOCKED")
	fs.StringVar(&flagConfig.PaymentAddr, "payment-addr", flagConfig.PaymentAddr, "the payment service's gRPC address (host:port), for PayBill's saga and settlements")
}

// Register registers billing's gRPC services with the configuration from Flags.
func Register(ctx context.Context, d serve.Deps) error {
	return RegisterConfig(ctx, d, flagConfig)
}

// RegisterConfig registers billing's gRPC services (BillingService, ConsumerAdminService;
// EventStreamService comes with serve.Deps.EventLog) and starts, until ctx ends, the
// feeds of every configured provider,
// the pay saga runner, the consumer of the payment service's settlements and the pruning
// of old idempotency keys. d.Pool's search_path must be the billing schema,
// migrated with billingpg.Migrations (serve does both; tests use
// pgtest.NewDB(t, "billing", billingpg.Migrations)). Background work retries while the
// database is not ready yet.
func RegisterConfig(ctx context.Context, d serve.Deps, cfg Config) error {
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pcfg, err := providerclient.ParseConfig(cfg.Providers)
	if err != nil {
		return fmt.Errorf("--providers: %w", err)
	}
	log, stream := d.EventLog(ctx, schema, billing.EventTypes)
	store := billingpg.New(d.Pool, billingpg.Options{BillEvent: billEvent, Notify: log.Notify})
	dial := append([]grpc.DialOption(nil), cfg.DialOptions...)
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(auth.Identity{Subject: "billing", Role: auth.RoleService}))
	}
	providers, err := providerclient.New(pcfg, providerclient.Options{
		BatchSize:   cfg.DetailsBatchSize,
		Breaker:     providerclient.BreakerOptions{Failures: cfg.BreakerFailures, Cooldown: cfg.BreakerCooldown},
		StaleAfter:  cfg.StaleAfter,
		DialOptions: dial,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	var payments *paymentclient.Client
	if cfg.PaymentAddr != "" {
		if payments, err = paymentclient.Dial(cfg.PaymentAddr, dial...); err != nil {
			_ = providers.Close()
			return err
		}
	}
	var runner *billing.Runner
	opts := billing.Options{DetailsTimeout: cfg.DetailsTimeout, Grace: cfg.StandingGrace, Block: cfg.StandingBlock}
	if payments != nil {
		opts.Payments, opts.Sagas = payments, store
		opts.SagaStarted = func() { runner.Wake() }
	}
	svc := billing.New(store, providers, opts)
	if payments != nil {
		ro := cfg.Saga
		if ro.Logger == nil {
			ro.Logger = logger.With(slog.String("component", "pay-saga"))
		}
		runner = billing.NewRunner(svc, store, payments, providers, ro)
	}

	// WatchBills reads billing's own log in process, through the process's one reader.
	heartbeat := cfg.WatchHeartbeat
	if heartbeat <= 0 {
		heartbeat = watchHeartbeat
	}
	srv := &Server{
		svc: svc, providers: providers, heartbeat: heartbeat,
		events: stream,
		head: func(ctx context.Context) (int64, error) {
			// Sequence what is committed, so that the snapshot that follows is covered by
			// the head and the live part repeats as little as possible.
			if _, err := log.Sequence(ctx); err != nil {
				return 0, err
			}
			return log.Head(ctx)
		},
	}
	feed := providerclient.FeedOptions{Pool: d.Pool, Sink: store, Notify: log.Notify, Reconnect: cfg.FeedReconnect}
	if d.Telemetry != nil {
		feed.Meter = d.Telemetry.MeterProvider.Meter("billing")
		feed.TracerProvider = d.Telemetry.TracerProvider
	}

	s := d.Server.GRPC
	billingv1.RegisterBillingServiceServer(s, srv)
	handlers := providers.Handlers(feed)
	var settlements consumer.Config
	if payments != nil {
		settlements = consumer.Config{
			Name: settlementsConsumer, Source: "payment", Client: eventsv1.NewEventStreamServiceClient(payments.Conn()),
			Pool: d.Pool, Types: []string{paymentSettled}, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL,
			Logger: logger, Meter: feed.Meter, TracerProvider: feed.TracerProvider, Reconnect: cfg.FeedReconnect,
			Notify: log.Notify,
		}
		handlers[settlementsConsumer] = settleHandler(store)
	}
	consumeradmin.Register(s, schema, consumer.NewParking(d.Pool, handlers, consumer.ParkingOptions{Notify: log.Notify, TracerProvider: feed.TracerProvider}))

	go func() {
		if !d.AwaitMigrations(ctx) { // the feeds and the runner need billing's tables
			return
		}
		go pruneRequests(ctx, store, logger)
		var wg sync.WaitGroup
		if payments != nil {
			wg.Add(2)
			go func() { defer wg.Done(); _ = runner.Run(ctx) }()
			go func() { defer wg.Done(); runSettlements(ctx, settlements, handlers[settlementsConsumer], logger) }()
		}
		providers.RunFeeds(ctx, feed)
		wg.Wait()
		_ = providers.Close()
		if payments != nil {
			_ = payments.Close()
		}
	}()
	return nil
}

// pruneRequests deletes idempotency keys older than 24 hours, hourly.
func pruneRequests(ctx context.Context, store *billingpg.Store, logger *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := store.PruneRequests(ctx, 24*time.Hour); err != nil && ctx.Err() == nil {
				logger.Warn("prune request ids", slog.Any("error", err))
			}
		}
	}
}
