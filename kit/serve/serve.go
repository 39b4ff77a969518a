// Package serve runs one Waybill service process: it reads the service's configuration,
// sets up logging and telemetry, opens the service's database pool, applies its
// migrations, registers its gRPC services and serves until the context ends. Health
// reports NOT_SERVING until the database is reachable and migrated.
package serve

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/telemetry"
)

// Spec describes one service to the runner.
type Spec struct {
	// Name is the service's name ("booking"); it is also its database schema, and its
	// default ports are DefaultPorts(Name).
	Name string
	// Migrations holds the service's *.sql migrations.
	Migrations fs.FS
	// Flags, when set, adds service-specific flags (for example provider addresses).
	Flags func(fs *flag.FlagSet)
	// Register registers the service's gRPC services. It runs before the server starts;
	// the pool may not be connected yet.
	Register func(ctx context.Context, d Deps) error
	// EventTypes lists the event types the service emits. When set, the runner gives the
	// service its outbox log (Deps.Events), runs the log's sequencer and reader once the
	// migrations (which must include kit/outbox's) are applied, and registers the
	// EventStreamService that serves the log.
	EventTypes []string
}

// Deps is what a service's Register gets.
type Deps struct {
	// Server is the gRPC server to register on.
	Server *grpcserver.Server
	// Pool is the service's database pool, with search_path set to its schema.
	Pool *pgxpool.Pool
	// Logger is the process logger; never nil (Run and grpctest.Start set it).
	Logger *slog.Logger
	// Telemetry gives access to the tracer and meter providers.
	Telemetry *telemetry.Telemetry
	// Auth verifies callers' tokens and signs this service's own calls to others.
	Auth *auth.Signer
	// Events is the service's outbox log when the spec declares event types: write events
	// with kit/txn (txn.New(Pool, txn.Options{Notify: Events.Notify}) and Tx.Emit) in the
	// transaction of the change.
	Events *outbox.Log
	// EventStream is the EventStreamService serving Events' log (set with Events), for
	// in-process readers such as billing's WatchBills.
	EventStream eventsv1.EventStreamServiceServer
	// Migrated is closed once the service's migrations are applied: background work
	// started by Register waits for it (AwaitMigrations) before touching the tables.
	// nil means the tables are there already.
	Migrated <-chan struct{}
}

// AwaitMigrations waits until the service's migrations are applied (at once when
// Migrated is nil) and reports true, or false when ctx ends first.
func (d Deps) AwaitMigrations(ctx context.Context) bool {
	if d.Migrated == nil {
		return true
	}
	select {
	case <-d.Migrated:
		return true
	case <-ctx.Done():
		return false
	}
}

// Config is the configuration every service shares.
type Config struct {
	GRPCAddr        string
	HTTPAddr        string
	DatabaseURL     string
	LogLevel        string
	LogFormat       string
	DefaultTimeout  time.Duration
	ShutdownTimeout time.Duration
	MaxConns        int
	Auth            auth.Options
	EventRetention  time.Duration
	Pprof           bool
	// MaxConnectionAge is grpcserver.Config.MaxConnectionAge (--grpc-max-connection-age).
	MaxConnectionAge time.Duration

	// EventStreams bounds the concurrent Subscribe streams of the service's event log
	// (MaxStreams, MaxStreamsPerCaller).
	EventStreams eventstream.ServerOptions
}

// DevAuthSecret is the token secret used when none is configured: fine on a laptop,
// never in production (the service logs a warning).
const DevAuthSecret = "waybill-local-development-secret"

// Logger builds the process logger: JSON (or text) lines on w at the given level.
func Logger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}

// Run runs the service until ctx is done. args are the command-line arguments after the
// service name; getenv reads the environment; logs go to stdout.
func Run(ctx context.Context, spec Spec, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg Config
	ports, _ := DefaultPorts(spec.Name)
	fs := flag.NewFlagSet("waybill serve "+spec.Name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", fmt.Sprintf("127.0.0.1:%d", ports.GRPC), "gRPC listen address")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", fmt.Sprintf("127.0.0.1:%d", ports.HTTP), "metrics and health HTTP listen address (empty disables)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (required); the service uses its own schema in it")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&cfg.LogFormat, "log-format", "json", "log format: json or text")
	fs.DurationVar(&cfg.DefaultTimeout, "default-timeout", 30*time.Second, "deadline for calls that arrive without one")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "graceful shutdown bound")
	fs.IntVar(&cfg.MaxConns, "db-max-conns", 20, "maximum database connections")
	fs.DurationVar(&cfg.EventRetention, "event-retention", 7*24*time.Hour, "how long the service's event log keeps events")
	fs.IntVar(&cfg.EventStreams.MaxStreams, "max-event-streams", eventstream.DefaultMaxStreams, "event streams (Subscribe) the service serves at once")
	fs.IntVar(&cfg.EventStreams.MaxStreamsPerCaller, "max-event-streams-per-caller", eventstream.DefaultMaxStreamsPerCaller, "event streams (Subscribe) one caller (token subject) may hold at once")
	fs.DurationVar(&cfg.MaxConnectionAge, "grpc-max-connection-age", grpcserver.DefaultMaxConnectionAge,
		"how long a client connection takes new calls before the server asks the client to reconnect, so new replicas get traffic (running streams go on; negative: never)")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve the Go runtime's profiles under /debug/pprof/ on the metrics and health HTTP address")
	cfg.Auth = auth.DefaultOptions()
	cfg.Auth.Secret = DevAuthSecret
	cfg.Auth.Flags(fs) // --auth-secret, --auth-issuer, --auth-audience, --auth-jwks, ...
	if spec.Flags != nil {
		spec.Flags(fs)
	}
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return fmt.Errorf("--database-url (or WAYBILL_DATABASE_URL / DATABASE_URL) is required")
	}
	logger, err := Logger(stdout, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	logger = logger.With(slog.String("service", spec.Name))
	logger.Info("config", config.Attrs(fs)...)
	cfg.Auth.Logger = logger
	signer, err := auth.New(cfg.Auth)
	if err != nil {
		return err
	}
	if cfg.Auth.Secret == DevAuthSecret {
		logger.Warn("using the development auth secret; set --auth-secret (WAYBILL_AUTH_SECRET) in production")
	}

	tel, err := telemetry.Setup(ctx, spec.Name, getenv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()

	pool, err := pgxutil.NewPool(cfg.DatabaseURL, pgxutil.PoolConfig{
		Schema:          spec.Name,
		MaxConns:        int32(cfg.MaxConns),
		ApplicationName: "waybill-" + spec.Name,
	})
	if err != nil {
		return err
	}
	defer pool.Close()

	srv := grpcserver.New(grpcserver.Config{
		Name:             spec.Name,
		GRPCAddr:         cfg.GRPCAddr,
		HTTPAddr:         cfg.HTTPAddr,
		DefaultTimeout:   cfg.DefaultTimeout,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		Pprof:            cfg.Pprof,
		MaxConnectionAge: cfg.MaxConnectionAge,
	}, logger, tel,
		grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()),
	)

	var migrated atomic.Bool
	srv.AddReadinessCheck(func(ctx context.Context) error {
		if !migrated.Load() {
			return fmt.Errorf("migrations not applied yet")
		}
		return pool.Ping(ctx)
	})
	migratedCh := make(chan struct{})
	deps := Deps{Server: srv, Pool: pool, Logger: logger, Telemetry: tel, Auth: signer, Migrated: migratedCh}
	var background []func(context.Context) error
	if len(spec.EventTypes) > 0 {
		var runs []func(context.Context) error
		deps.Events, deps.EventStream, runs = newEventLog(pool, srv, spec.Name, spec.EventTypes, logger, cfg.EventRetention, cfg.EventStreams)
		background = append(background, runs...)
	}
	if err := spec.Register(ctx, deps); err != nil {
		return fmt.Errorf("register %s: %w", spec.Name, err)
	}
	go func() {
		if !migrateUntilDone(ctx, logger, pool, spec, &migrated) {
			return
		}
		close(migratedCh)
		for _, run := range background {
			go func() {
				if err := run(ctx); err != nil && ctx.Err() == nil {
					logger.Error("background task stopped", slog.Any("error", err))
				}
			}()
		}
	}()
	return srv.Run(ctx)
}

// migrateUntilDone applies the migrations, retrying while the database is unreachable,
// so a service can start before its database and report NOT_SERVING meanwhile. It
// reports whether the migrations were applied (false when ctx ended first).
func migrateUntilDone(ctx context.Context, logger *slog.Logger, pool *pgxpool.Pool, spec Spec, done *atomic.Bool) bool {
	// 100 ms, doubling to 5 s, jittered so that services that lost the database together
	// do not come back in step; Retry gives up only when ctx ends.
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		return struct{}{}, pgxutil.Migrate(ctx, pool, spec.Name, spec.Migrations)
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     100 * time.Millisecond,
			RandomizationFactor: backoff.DefaultRandomizationFactor,
			Multiplier:          2,
			MaxInterval:         5 * time.Second,
		}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, delay time.Duration) {
			logger.Warn("migrate", slog.Any("error", err), slog.Duration("retry_in", delay))
		}))
	if err != nil {
		return false
	}
	logger.Info("migrations applied")
	done.Store(true)
	return true
}

// Names lists spec names, for usage messages.
func Names(specs []Spec) string {
	var n []string
	for _, s := range specs {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}
