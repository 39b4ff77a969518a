// Package analyticsapp is the analytics service's composition root, the one place that
// constructs its parts: from a Config and the process's serve.Deps it builds the storage
// (analyticspg), the domain (analytics.Service) and the transport (analyticsgrpc),
// registers the gRPC services, and runs the background work until the context ends: one
// kit/consumer per source (booking, payment, billing, fare) applying its events to the
// rollups, and the periodic alert rules. Rebuild replays every source into a fresh
// schema.
package analyticsapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analytics"
	"github.com/waybill/waybill/services/analytics/analyticsgrpc"
	"github.com/waybill/waybill/services/analytics/analyticspg"
	"github.com/waybill/waybill/services/analytics/sourceevents"
)

// Name is the service's name: its database schema, its ports' entry in serve's table
// and the subject of its calls to other services.
const Name = "analytics"

// consumerName is the name of the consumer of source's events.
func consumerName(source string) string { return "analytics-from-" + source }

// Config is analytics' own configuration; serve.Config holds what every service shares.
type Config struct {
	// Sources maps each source service (sourceevents.Sources) to its gRPC address; an
	// empty address leaves that source unconsumed.
	Sources map[string]string
	// AlertInterval is how often the alert rules are evaluated; 0 disables them.
	AlertInterval time.Duration
	// Rules are the alert thresholds.
	Rules analytics.AlertRules

	// The settings below have no flags: tests set them.

	// Reconnect paces resubscribing to a source; zero uses the consumer's default.
	Reconnect consumer.Backoff
	// Now is the alert rules' clock (and the one the sources' silence is measured
	// with); nil means time.Now.
	Now func() time.Time
	// DialOptions are added to the sources' connections.
	DialOptions []grpc.DialOption
	// Service receives the analytics.Service Register built (tests evaluate alerts
	// with it); nil ignores it.
	Service func(*analytics.Service)
}

// DefaultConfig returns analytics' defaults: every source at its address in the local
// mesh (serve.DefaultAddr), alerts evaluated every 30 seconds with the default rules.
func DefaultConfig() Config {
	c := Config{Sources: map[string]string{}, AlertInterval: 30 * time.Second, Rules: analytics.DefaultAlertRules}
	for _, s := range sourceevents.Sources {
		c.Sources[s.Name] = serve.DefaultAddr(s.Name)
	}
	return c
}

// sourceAddr is a flag.Value setting one source's address in a Config.
type sourceAddr struct {
	m    map[string]string
	name string
}

func (a sourceAddr) String() string {
	if a.m == nil {
		return ""
	}
	return a.m[a.name]
}
func (a sourceAddr) Set(s string) error { a.m[a.name] = s; return nil }

// Flags binds c's settings to flags on fs (and so to WAYBILL_<FLAG> variables), with c's
// values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	if c.Sources == nil {
		c.Sources = map[string]string{}
	}
	for _, s := range sourceevents.Sources {
		fs.Var(sourceAddr{c.Sources, s.Name}, s.Name+"-addr", "gRPC address (host:port) of the "+s.Name+" service, whose events analytics consumes (empty: not consumed)")
	}
	fs.DurationVar(&c.AlertInterval, "alert-interval", c.AlertInterval, "how often the alert rules are evaluated (0 disables them)")
	fs.Float64Var(&c.Rules.CancellationRate, "alert-cancellation-rate", c.Rules.CancellationRate, "cancellation rate over 24 h above which an alert is raised (0 to 1)")
	fs.Int64Var(&c.Rules.MinBookings, "alert-min-bookings", c.Rules.MinBookings, "bookings in 24 h below which the cancellation rule stays quiet")
	fs.Float64Var(&c.Rules.FailureRate, "alert-payment-failure-rate", c.Rules.FailureRate, "payment failure rate over the last hour above which an alert is raised (0 to 1)")
	fs.Int64Var(&c.Rules.MinAttempts, "alert-min-payment-attempts", c.Rules.MinAttempts, "payment attempts in the last hour below which the failure rule stays quiet")
	fs.Int64Var(&c.Rules.LagEvents, "alert-lag-events", c.Rules.LagEvents, "events a source's consumer may be behind before an alert")
	fs.DurationVar(&c.Rules.LagAge, "alert-lag-age", c.Rules.LagAge, "how long a source's stream may stay silent before an alert")
}

// Validate reports settings analytics cannot run with.
func (c Config) Validate() error {
	var problems []error
	if c.AlertInterval < 0 {
		problems = append(problems, fmt.Errorf("--alert-interval must not be negative, not %v", c.AlertInterval))
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"--alert-cancellation-rate", c.Rules.CancellationRate}, {"--alert-payment-failure-rate", c.Rules.FailureRate}} {
		if r.v <= 0 || r.v > 1 {
			problems = append(problems, fmt.Errorf("%s must be above 0 and at most 1, not %v", r.flag, r.v))
		}
	}
	if c.Rules.MinBookings < 0 || c.Rules.MinAttempts < 0 || c.Rules.LagEvents <= 0 || c.Rules.LagAge <= 0 {
		problems = append(problems, errors.New("--alert-min-bookings and --alert-min-payment-attempts must not be negative, --alert-lag-events and --alert-lag-age must be positive"))
	}
	for name := range c.Sources {
		if !knownSource(name) {
			problems = append(problems, fmt.Errorf("unknown source %q", name))
		}
	}
	return errors.Join(problems...)
}

func knownSource(name string) bool {
	for _, s := range sourceevents.Sources {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Spec returns analytics' spec for kit/serve: its schema and migrations, its event types,
// its flags, bound to a Config of its own, and Register with that Config.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       Name,
		Migrations: analyticspg.Migrations,
		EventTypes: analytics.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds analytics from c on d and registers its gRPC services on d.Server
// (AnalyticsService and ConsumerAdminService; EventStreamService comes with the event
// log). Its consumers and alert rules run until ctx ends, once the migrations are
// applied. d.Pool's search_path must be the analytics schema, migrated with
// analyticspg.Migrations.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("analytics config: %w", err)
	}
	if d.Pool == nil || d.Server == nil {
		return errors.New("analytics: Deps needs a pool and a server")
	}
	logger := d.Logger
	log, _ := d.EventLog(ctx, Name, analytics.EventTypes)
	store := analyticspg.New(d.Pool, analyticspg.Options{AlertEvent: analyticsgrpc.AlertEvent, Notify: log.Notify})

	dial := append([]grpc.DialOption(nil), c.DialOptions...)
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(caller.Caller{Subject: Name, Role: caller.Service}))
	}
	var meter metric.Meter
	var tp trace.TracerProvider
	if d.Telemetry != nil {
		meter, tp = d.Telemetry.MeterProvider.Meter(Name), d.Telemetry.TracerProvider
	}
	feeds, err := dialSources(c.Sources, dial)
	if err != nil {
		return err
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	handler := Handler(store)
	handlers := map[string]consumer.Handler{}
	var watches []*watch
	var configs []consumer.Config
	for _, f := range feeds {
		w := newWatch(f.source.Name, now)
		watches = append(watches, w)
		handlers[consumerName(f.source.Name)] = handler
		configs = append(configs, consumer.Config{
			Name: consumerName(f.source.Name), Source: f.source.Name, Client: w.client(eventsv1.NewEventStreamServiceClient(f.conn)),
			Pool: d.Pool, Types: f.source.Types, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL,
			Logger: logger, Meter: meter, TracerProvider: tp, Reconnect: c.Reconnect, Notify: log.Notify,
		})
	}
	svc := analytics.New(store, analytics.Options{Lags: lags(d.Pool, watches), Rules: c.Rules, Now: c.Now})
	if c.Service != nil {
		c.Service(svc)
	}
	analyticsv1.RegisterAnalyticsServiceServer(d.Server.GRPC, analyticsgrpc.New(svc))
	consumeradmin.Register(d.Server.GRPC, Name, consumer.NewParking(d.Pool, handlers,
		consumer.ParkingOptions{Notify: log.Notify, TracerProvider: tp}))

	go func() {
		defer closeFeeds(feeds)
		if !d.AwaitMigrations(ctx) {
			return
		}
		var wg sync.WaitGroup
		for _, cfg := range configs {
			wg.Add(1)
			go func() { defer wg.Done(); runConsumer(ctx, cfg, handler, logger) }()
		}
		if c.AlertInterval > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc.RunAlerts(ctx, c.AlertInterval, func(err error) {
					logger.Error("evaluate alerts", slog.Any("error", err))
				})
			}()
		}
		wg.Wait()
	}()
	return nil
}

// Handler returns the consumers' handler: the event's fact (sourceevents.Decode) applied
// to the rollups in the consumer's transaction.
func Handler(store *analyticspg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		fact, err := sourceevents.Decode(ev)
		if err != nil {
			return err
		}
		return store.Apply(ctx, tx, fact)
	}
}

// feed is a source and the connection to it.
type feed struct {
	source sourceevents.Source
	conn   *grpc.ClientConn
}

// dialSources dials every source with an address, in sourceevents.Sources' order.
func dialSources(addrs map[string]string, dial []grpc.DialOption) ([]feed, error) {
	var out []feed
	for _, s := range sourceevents.Sources {
		addr := addrs[s.Name]
		if addr == "" {
			continue
		}
		conn, err := grpcclient.Dial(addr, grpcclient.Options{}, dial...)
		if err != nil {
			closeFeeds(out)
			return nil, fmt.Errorf("%s service %s: %w", s.Name, addr, err)
		}
		out = append(out, feed{source: s, conn: conn})
	}
	return out, nil
}

func closeFeeds(feeds []feed) {
	for _, f := range feeds {
		_ = f.conn.Close()
	}
}

// restartBackoff paces restarting a consumer whose Run stopped before ctx ended (its
// cursor fell out of the source's retention): one every 30 s at most.
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

// RebuildConfig configures Rebuild.
type RebuildConfig struct {
	// Pool reaches a fresh schema migrated with analyticspg.Migrations (its search_path).
	Pool *pgxpool.Pool
	// Sources maps each source to a client of its event stream.
	Sources map[string]eventsv1.EventStreamServiceClient
	// Logger receives the consumers' logs; nil discards them.
	Logger *slog.Logger
	// Poll is how often progress is checked; 0 means 50 ms.
	Poll time.Duration
}

// Rebuild replays every source of cfg from the start of its retained log into cfg.Pool's
// schema, with the same consumers and handler the service runs, and returns once each
// has applied everything its source had when its stream went live (or ctx ends, with
// ctx's error). The rebuilt tables then equal the incrementally maintained ones of a
// service that consumed the same events.
func Rebuild(ctx context.Context, cfg RebuildConfig) error {
	if cfg.Pool == nil {
		return errors.New("analytics rebuild: no pool")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	store := analyticspg.New(cfg.Pool, analyticspg.Options{AlertEvent: analyticsgrpc.AlertEvent})
	handler := Handler(store)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var watches []*watch
	for _, s := range sourceevents.Sources {
		client := cfg.Sources[s.Name]
		if client == nil {
			continue
		}
		w := newWatch(s.Name, time.Now)
		watches = append(watches, w)
		c := consumer.Config{Name: consumerName(s.Name), Source: s.Name, Client: w.client(client), Pool: cfg.Pool,
			Types: s.Types, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL, Logger: cfg.Logger, Linger: -1}
		wg.Add(1)
		go func() { defer wg.Done(); _ = consumer.Run(rctx, c, handler) }()
	}
	t := time.NewTicker(cfg.Poll)
	defer t.Stop()
	for {
		done := true
		for _, w := range watches {
			ok, err := caughtUp(ctx, cfg.Pool, w)
			if err != nil {
				return err
			}
			done = done && ok
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
