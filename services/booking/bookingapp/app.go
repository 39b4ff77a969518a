// Package bookingapp is the booking service's composition root, the one place that
// constructs its parts: from a Config and the process's serve.Deps it builds the
// storage (bookingpg), the fare client (fareclient), the domain (booking.Service) and
// the transport (bookinggrpc), and starts the background work (the sweeper of lapsed
// holds and ended reservations, the pruning of idempotency keys, the account gate's
// consumer of suspensions) until the context ends.
package bookingapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookinggrpc"
	"github.com/waybill/waybill/services/booking/bookingpg"
	"github.com/waybill/waybill/services/booking/fareclient"
)

// name is the service's name: its database schema, its ports' entry in serve's table
// and the subject of its calls to other services.
const name = "booking"

// Config is booking's own configuration; serve.Config holds what every service shares.
type Config struct {
	// FareAddr is the fare service's gRPC address, which prices holds and searches.
	FareAddr string
	// FareTimeout is the deadline of each call to fare.
	FareTimeout time.Duration
	// SearchQuoteTimeout bounds the fare calls pricing one page of search results; a
	// page fare could not price in time is shown without prices.
	SearchQuoteTimeout time.Duration
	// SweepInterval is how often lapsed holds expire and ended reservations complete; 0
	// disables the sweeper (tests call booking.Service.ExpireHolds themselves).
	SweepInterval time.Duration
	// PruneInterval is how often idempotency keys past their lifetime (24 hours) are
	// deleted.
	PruneInterval time.Duration
	// AccountAddr is the account service's gRPC address, whose suspension events feed
	// the gate that refuses suspended customers' holds; empty disables the gate.
	AccountAddr string

	// Pricer, when set, prices holds instead of a fare client on FareAddr: a test double.
	// No flag sets it.
	Pricer booking.Pricer
	// Now is the service's clock; nil means time.Now. Tests move it; no flag sets it.
	Now func() time.Time
}

// DefaultConfig returns booking's defaults: fare at its address in the local mesh.
func DefaultConfig() Config {
	return Config{
		FareAddr:           serve.DefaultAddr("fare"),
		FareTimeout:        2 * time.Second,
		SearchQuoteTimeout: 2 * time.Second,
		SweepInterval:      time.Second,
		PruneInterval:      idempotencypg.DefaultPruneInterval,
		AccountAddr:        serve.DefaultAddr("account"),
	}
}

// Flags binds c's settings to flags on fs (and so to WAYBILL_<FLAG> variables), with c's
// values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.FareAddr, "fare-addr", c.FareAddr, "gRPC address (host:port) of the fare service, which prices holds")
	fs.DurationVar(&c.FareTimeout, "fare-timeout", c.FareTimeout, "deadline of each call to the fare service")
	fs.DurationVar(&c.SearchQuoteTimeout, "search-quote-timeout", c.SearchQuoteTimeout, "bound of the fare calls pricing one page of search results")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", c.SweepInterval, "how often lapsed holds expire and ended reservations complete (0 disables)")
	fs.DurationVar(&c.PruneInterval, "idempotency-prune-interval", c.PruneInterval, "how often expired idempotency keys are deleted")
	fs.StringVar(&c.AccountAddr, "account-addr", c.AccountAddr, "gRPC address (host:port) of the account service, whose suspensions refuse holds (empty disables)")
}

// Validate reports settings booking cannot run with.
func (c Config) Validate() error {
	var problems []error
	if c.FareAddr == "" && c.Pricer == nil {
		problems = append(problems, errors.New("--fare-addr is required"))
	}
	if c.FareTimeout <= 0 {
		problems = append(problems, fmt.Errorf("--fare-timeout must be positive, not %v", c.FareTimeout))
	}
	if c.SearchQuoteTimeout <= 0 {
		problems = append(problems, fmt.Errorf("--search-quote-timeout must be positive, not %v", c.SearchQuoteTimeout))
	}
	if c.SweepInterval < 0 {
		problems = append(problems, fmt.Errorf("--sweep-interval must not be negative, not %v", c.SweepInterval))
	}
	if c.PruneInterval <= 0 {
		problems = append(problems, fmt.Errorf("--idempotency-prune-interval must be positive, not %v", c.PruneInterval))
	}
	return errors.Join(problems...)
}

// Spec returns booking's spec for kit/serve: its schema and migrations, its event types,
// its flags, bound to a Config of its own, and Register with that Config.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       name,
		Migrations: bookingpg.Migrations,
		EventTypes: booking.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds booking from c on d and registers its gRPC services on d.Server; its
// background work runs until ctx ends. d.Pool's search_path must be the booking schema,
// migrated with bookingpg.Migrations.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	_, err := Start(ctx, d, c)
	return err
}

// App is a started booking service.
type App struct {
	// Service is the domain's use cases, for tests that drive the sweeper themselves.
	Service *booking.Service
}

// Start is Register returning the started service, for tests.
func Start(ctx context.Context, d serve.Deps, c Config) (*App, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("booking config: %w", err)
	}
	if d.Pool == nil || d.Server == nil {
		return nil, errors.New("booking: Deps needs a pool and a server")
	}
	logger := d.Logger
	pricer := c.Pricer
	if pricer == nil {
		var err error
		if pricer, err = dialFare(ctx, d, c); err != nil {
			return nil, err
		}
	}
	log, _ := d.EventLog(ctx, name, booking.EventTypes)
	keys := idempotencypg.New(idempotencypg.Options{Now: c.Now})
	store := bookingpg.New(d.Pool, bookingpg.Options{Encode: bookinggrpc.EventPayload, Notify: log.Notify, Keys: keys})
	gate, err := accountgate.Start(ctx, d, c.AccountAddr, name)
	if err != nil {
		return nil, err
	}
	svc := booking.New(store, pricer, booking.Options{Now: c.Now, SearchQuoteTimeout: c.SearchQuoteTimeout, Gate: gate})
	bookinggrpc.Register(d.Server.GRPC, svc)
	// The account gate's parked events, for operators to list, replay and discard.
	consumeradmin.Register(d.Server.GRPC, name, consumer.NewParking(d.Pool,
		map[string]consumer.Handler{accountgate.ConsumerName: accountgate.Handle}, consumer.ParkingOptions{Notify: log.Notify}))

	if c.SweepInterval > 0 {
		background(ctx, d, func(ctx context.Context) {
			svc.RunSweeper(ctx, c.SweepInterval, func(err error) {
				logger.Warn("booking sweeper", slog.Any("error", err))
			})
		})
	}
	background(ctx, d, func(ctx context.Context) { keys.PruneEvery(ctx, d.Pool, c.PruneInterval, logger) })
	return &App{Service: svc}, nil
}

// dialFare returns the fare client on c.FareAddr, calling as booking's service
// identity; its connection closes when ctx ends.
func dialFare(ctx context.Context, d serve.Deps, c Config) (*fareclient.Client, error) {
	opts := grpcclient.Options{Timeout: c.FareTimeout, Idempotent: fareclient.IdempotentMethods}
	var extra []grpc.DialOption
	if d.Auth != nil {
		extra = append(extra, d.Auth.DialOption(auth.Identity{Subject: name, Role: caller.Service}))
	}
	conn, err := grpcclient.Dial(c.FareAddr, opts, extra...)
	if err != nil {
		return nil, fmt.Errorf("booking: dial fare at %s: %w", c.FareAddr, err)
	}
	go func() {
		<-ctx.Done()
		_ = conn.Close()
	}()
	return fareclient.New(conn, c.FareTimeout), nil
}

// background runs fn once booking's tables exist.
func background(ctx context.Context, d serve.Deps, fn func(ctx context.Context)) {
	go func() {
		if d.AwaitMigrations(ctx) {
			fn(ctx)
		}
	}()
}
