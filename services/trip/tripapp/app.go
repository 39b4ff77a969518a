// Package tripapp is the trip service's composition root, the one place that constructs
// its parts: from a Config and the process's serve.Deps it builds the storage
// (trippg), the clients of billing, fare and matching, the domain (trip.Service) and
// the transport (tripgrpc), registers the gRPC services, and runs the background work
// until the context ends: the consumers of matching's and fare's events, the runner of
// the calls to matching that changes owe, the sweeper of abandoned requests and the
// pruning of idempotency keys.
package tripapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/trip/billingclient"
	"github.com/waybill/waybill/services/trip/fareclient"
	"github.com/waybill/waybill/services/trip/matchingclient"
	"github.com/waybill/waybill/services/trip/trip"
	"github.com/waybill/waybill/services/trip/tripgrpc"
	"github.com/waybill/waybill/services/trip/trippg"
)

// Name is the trip service's name: its database schema, its default ports' key
// (serve.DefaultPorts) and the subject of its calls to other services.
const Name = "trip"

// The consumers' names (their cursors' keys: never change them).
const (
	consumerMatching = "trip-from-matching"
	consumerFare     = "trip-from-fare"
)

// EventFareCalculated is the fare event whose fare trip records as the final fare.
const EventFareCalculated = "fare.fare.calculated"

// Config is trip's own configuration; serve.Config holds what every service shares.
type Config struct {
	// BillingAddr, FareAddr and MatchingAddr are the addresses of the services trip
	// calls. Required.
	BillingAddr, FareAddr, MatchingAddr string
	// AccountAddr is the account service's address, whose suspensions refuse ride
	// requests (kit/accountgate); empty disables the gate.
	AccountAddr string
	// Match tunes the driver searches trip starts (zero fields: matching's defaults).
	Match trip.MatchOptions
	// FreeCancelWindow is how long after the assignment a rider may cancel for free.
	FreeCancelWindow time.Duration
	// PendingTimeout is how old an unfinished request gets before the sweeper undoes it;
	// SweepInterval is how often it looks.
	PendingTimeout, SweepInterval time.Duration
	// RequestLease is how long a ride request holds its request id while it calls
	// billing, fare and matching: a retry with the same id meanwhile is ABORTED
	// (REQUEST_IN_PROGRESS), one after it resumes the request.
	RequestLease time.Duration
	// TaskPoll is how often the runner of calls to matching looks for due calls.
	TaskPoll time.Duration
	// KeyPruneInterval is how often expired idempotency keys are deleted; 0 disables.
	KeyPruneInterval time.Duration

	// The settings below have no flags: tests set them.

	// DialOptions are added to the connections to billing, fare and matching.
	DialOptions []grpc.DialOption
	// Reconnect paces the consumers' resubscriptions; zero uses the consumer's default.
	Reconnect consumer.Backoff
	// WatchHeartbeat and WatchPoll tune WatchTrip (tripgrpc.Options).
	WatchHeartbeat, WatchPoll time.Duration
	// Now is the domain's clock; time.Now when nil.
	Now func() time.Time
}

// DefaultConfig returns trip's defaults: the mesh's services at their local addresses.
func DefaultConfig() Config {
	return Config{
		BillingAddr: serve.DefaultAddr("billing"), FareAddr: serve.DefaultAddr("fare"), MatchingAddr: serve.DefaultAddr("matching"),
		AccountAddr:      serve.DefaultAddr("account"),
		FreeCancelWindow: trip.DefaultFreeCancelWindow,
		PendingTimeout:   trip.DefaultPendingTimeout, SweepInterval: 15 * time.Second,
		TaskPoll: time.Second, KeyPruneInterval: time.Hour, RequestLease: trippg.DefaultRequestLease,
	}
}

// Flags binds c's settings to flags on fs (and so to WAYBILL_<FLAG> variables), with c's
// values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.BillingAddr, "billing-addr", c.BillingAddr, "the billing service's gRPC address (rider standing)")
	fs.StringVar(&c.FareAddr, "fare-addr", c.FareAddr, "the fare service's gRPC address (estimates, final fares)")
	fs.StringVar(&c.MatchingAddr, "matching-addr", c.MatchingAddr, "the matching service's gRPC address (driver search)")
	fs.StringVar(&c.AccountAddr, "account-addr", c.AccountAddr, "the account service's gRPC address, whose suspensions refuse ride requests (empty disables the gate)")
	fs.DurationVar(&c.Match.OfferTimeout, "match-offer-timeout", c.Match.OfferTimeout, "how long each offer of a ride stays open (0: matching's default)")
	fs.Func("match-max-attempts", fmt.Sprintf("attempts of each driver search, 0 to 10; 0 is matching's default (default %d)", c.Match.MaxAttempts), func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		c.Match.MaxAttempts = int32(n)
		return err
	})
	fs.DurationVar(&c.FreeCancelWindow, "free-cancel-window", c.FreeCancelWindow, "how long after a driver was assigned a rider cancels without a fee")
	fs.DurationVar(&c.PendingTimeout, "pending-request-timeout", c.PendingTimeout, "age after which an unfinished ride request is undone")
	fs.DurationVar(&c.SweepInterval, "pending-sweep-interval", c.SweepInterval, "how often unfinished ride requests are looked for")
	fs.DurationVar(&c.RequestLease, "request-lease", c.RequestLease, "how long a ride request holds its request id while it calls billing, fare and matching")
	fs.DurationVar(&c.TaskPoll, "matching-task-poll", c.TaskPoll, "how often owed calls to matching (release, cancel) are looked for")
	fs.DurationVar(&c.KeyPruneInterval, "idempotency-prune-interval", c.KeyPruneInterval, "how often expired idempotency keys are deleted (0 disables)")
}

// Validate reports settings trip cannot run with.
func (c Config) Validate() error {
	var problems []error
	for _, a := range []struct{ flag, v string }{{"--billing-addr", c.BillingAddr}, {"--fare-addr", c.FareAddr}, {"--matching-addr", c.MatchingAddr}} {
		if a.v == "" {
			problems = append(problems, fmt.Errorf("%s is required", a.flag))
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--request-lease", c.RequestLease}, {"--pending-request-timeout", c.PendingTimeout}, {"--pending-sweep-interval", c.SweepInterval}, {"--matching-task-poll", c.TaskPoll}} {
		if d.v <= 0 {
			problems = append(problems, fmt.Errorf("%s must be positive, not %v", d.flag, d.v))
		}
	}
	if c.PendingTimeout <= c.RequestLease {
		problems = append(problems, fmt.Errorf("--pending-request-timeout (%v) must be longer than --request-lease (%v)", c.PendingTimeout, c.RequestLease))
	}
	if c.FreeCancelWindow < 0 || c.KeyPruneInterval < 0 || c.Match.OfferTimeout < 0 || c.Match.MaxAttempts < 0 {
		problems = append(problems, errors.New("--free-cancel-window, --idempotency-prune-interval, --match-offer-timeout and --match-max-attempts must not be negative"))
	}
	return errors.Join(problems...)
}

// Spec returns trip's spec for kit/serve: its schema and migrations, its event types,
// its flags, bound to a Config of its own, and Register with that Config.
func Spec() serve.Spec { return SpecWith(DefaultConfig()) }

// SpecWith is Spec with c as the starting configuration (tests point it at their
// servers).
func SpecWith(c Config) serve.Spec {
	return serve.Spec{
		Name:       Name,
		Migrations: trippg.Migrations,
		EventTypes: trip.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds trip from c on d and registers its gRPC services on d.Server
// (TripService, ReservationProviderService and ConsumerAdminService; EventStreamService comes with the event log).
// Its background work runs until ctx ends, once the migrations are applied.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("trip config: %w", err)
	}
	if d.Pool == nil || d.Server == nil {
		return errors.New("trip: Deps needs a pool and a server")
	}
	logger := d.Logger
	log, _ := d.EventLog(ctx, Name, trip.EventTypes)
	store := trippg.New(d.Pool, trippg.Options{TripEvent: tripgrpc.TripEvent, Notify: log.Notify, Now: c.Now, RequestLease: c.RequestLease})
	dial := append([]grpc.DialOption(nil), c.DialOptions...)
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(caller.Caller{Subject: Name, Role: caller.Service}))
	}
	billing, err := billingclient.Dial(c.BillingAddr, dial...)
	if err != nil {
		return err
	}
	fare, err := fareclient.Dial(c.FareAddr, dial...)
	if err != nil {
		return err
	}
	matching, err := matchingclient.Dial(c.MatchingAddr, dial...)
	if err != nil {
		return err
	}
	gate, err := accountgate.Start(ctx, d, c.AccountAddr, Name, c.DialOptions...)
	if err != nil {
		return err
	}
	var suspensions trip.Suspensions
	if gate != nil {
		suspensions = gate
	}
	wake := make(chan struct{}, 1)
	hub := trip.NewHub()
	svc := trip.New(store, trip.Options{
		Suspensions: suspensions,
		Billing:     billing, Fare: fare, Matching: matching, Match: c.Match,
		FreeCancelWindow: c.FreeCancelWindow, PendingTimeout: c.PendingTimeout,
		Hub: hub, Now: c.Now, Logger: logger,
		TaskWake: func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		},
	})
	tripv1.RegisterTripServiceServer(d.Server.GRPC, tripgrpc.New(svc, tripgrpc.Options{Heartbeat: c.WatchHeartbeat, Poll: c.WatchPoll}))
	reservationv1.RegisterReservationProviderServiceServer(d.Server.GRPC, tripgrpc.NewProvider(svc))

	// A consumer's changes commit after the handler returns: the watchers of the trips
	// a batch changed, and the task runner, are told after that batch's commit
	// (consumer.Config.Committed), so that they read the new state.
	taskWake := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	committed := func(tripIDs []string) {
		for _, id := range tripIDs {
			hub.Notify(id)
		}
		taskWake()
	}
	handlers := map[string]consumer.Handler{
		consumerMatching: matchingHandler(svc, store),
		consumerFare:     fareHandler(svc, store),
	}
	if gate != nil {
		handlers[accountgate.ConsumerName] = accountgate.Handle
	}
	consumeradmin.Register(d.Server.GRPC, Name, consumer.NewParking(d.Pool, handlers, consumer.ParkingOptions{Notify: log.Notify}))
	consumers := []consumer.Config{
		{Name: consumerMatching, Source: "matching", Client: eventsv1.NewEventStreamServiceClient(matching.Conn()),
			Types: []string{matchingclient.EventDriverAssigned, matchingclient.EventMatchFailed}},
		{Name: consumerFare, Source: "fare", Client: eventsv1.NewEventStreamServiceClient(fare.Conn()),
			Types: []string{EventFareCalculated}},
	}
	for i := range consumers {
		cc := &consumers[i]
		cc.Pool, cc.Logger, cc.Reconnect = d.Pool, logger, c.Reconnect
		cc.Notify, cc.Committed = log.Notify, committed
		cc.PayloadMode = eventsv1.PayloadMode_PAYLOAD_MODE_FULL
		// A driver can accept before the request that started the search is published
		// (milliseconds later): the handler waits for it with these retries.
		cc.Retry, cc.Attempts = consumer.Backoff{Initial: 200 * time.Millisecond, Max: 3 * time.Second}, 10
		if d.Telemetry != nil {
			cc.Meter = d.Telemetry.MeterProvider.Meter(Name)
			cc.TracerProvider = d.Telemetry.TracerProvider
		}
	}

	go func() {
		defer billing.Close()
		defer fare.Close()
		defer matching.Close()
		if !d.AwaitMigrations(ctx) {
			return
		}
		var wg sync.WaitGroup
		run := func(f func()) {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
		for _, cc := range consumers {
			run(func() { runConsumer(ctx, cc, handlers[cc.Name], logger) })
		}
		run(func() { svc.RunTasks(ctx, wake, c.TaskPoll) })
		run(func() { svc.RunSweeper(ctx, c.SweepInterval) })
		if c.KeyPruneInterval > 0 {
			run(func() { idempotencypg.New(idempotencypg.Options{}).PruneEvery(ctx, d.Pool, c.KeyPruneInterval, logger) })
		}
		wg.Wait()
	}()
	return nil
}

// matchingHandler applies matching's events in the consumer's transaction.
func matchingHandler(svc *trip.Service, store *trippg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		s := svc.InTx(store.In(tx))
		switch ev.GetType() {
		case matchingclient.EventDriverAssigned:
			tripID, m, err := matchingclient.DriverAssigned(ev)
			if err != nil {
				return err
			}
			return s.ApplyDriverAssigned(ctx, tripID, m)
		case matchingclient.EventMatchFailed:
			tripID, matchID, err := matchingclient.MatchFailed(ev)
			if err != nil {
				return err
			}
			return s.ApplyMatchFailed(ctx, tripID, matchID)
		}
		return nil
	}
}

// fareHandler records final fares from fare's fare.fare.calculated events in the
// consumer's transaction.
func fareHandler(svc *trip.Service, store *trippg.Store) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if ev.GetType() != EventFareCalculated {
			return nil
		}
		var p farev1.FareEvent
		if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
			return fmt.Errorf("decode %s: %w", ev.GetType(), err)
		}
		f := p.GetFare()
		if f.GetTotal() == nil {
			return nil
		}
		return svc.InTx(store.In(tx)).RecordFinalFare(ctx, f.GetTripId(), money.New(f.GetTotal().GetAmountMinor(), f.GetTotal().GetCurrencyCode()))
	}
}

// restartBackoff paces restarting a consumer whose Run stopped before ctx ended.
func restartBackoff() backoff.BackOff {
	return &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 30 * time.Second}
}

// runConsumer runs consumer cfg with handler h until ctx ends, restarting it with
// restartBackoff.
func runConsumer(ctx context.Context, cfg consumer.Config, h consumer.Handler, logger *slog.Logger) {
	_, _ = backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, consumer.Run(ctx, cfg, h) },
		backoff.WithBackOff(restartBackoff()), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			if ctx.Err() == nil {
				logger.Error("consumer stopped", slog.String("consumer", cfg.Name), slog.Any("error", err), slog.Duration("restart_in", next))
			}
		}))
}
