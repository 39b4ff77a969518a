// Package consumer applies the events of another service's event log (its EventStream
// Subscribe stream) to the consuming service's own tables, each event's effect exactly
// once.
//
// Run keeps, per (consumer, source), a cursor in the consuming service's own schema
// (table consumer_cursors, see Migrations; read it with Cursor) and advances it in the
// same transaction as the handler's writes and the events the handler emits (a kit/txn
// transaction), so a crash or a dropped stream at any point neither loses an event's
// effect nor applies it twice: after a restart the stream resumes after the committed
// cursor, and an event that arrives again (at or below the committed sequence) is skipped.
// For the same reason the transactions commit asynchronously (synchronous_commit off): a
// commit that a crash of PostgreSQL loses takes the cursor's advance with it, and the
// events are applied again.
//
// An event whose handler keeps failing is retried with backoff and then parked in a
// dead-letter table (parked_events) with its error, and the stream moves on. Later events
// with the same key are parked behind it without running the handler, so each key's
// events are applied in order; other keys keep flowing. Parking lists, replays and
// discards parked events; kit/consumeradmin serves it as the ConsumerAdminService, and
// `waybill parked` is that service's command-line client.
//
// Run reports lag (in events and seconds), the parked count and handler latency as
// OpenTelemetry metrics per (consumer, source), and gives each handler call a span linked
// to the span that produced the event.
//
// Replicas of a consumer take turns on its one cursor: correct, but a second replica adds
// no throughput. To scale a consumer out, run it as a consumer group (Config.Group, see
// Group): the stream is split by key hash into partitions, each with its own cursor and
// owned by one live replica at a time through a lease in the consuming service's
// database, and the lag is reported per partition.
//
// A consuming service applies Migrations to its schema with its own migrations, runs one
// Run per (consumer, source) next to its server, and registers the admin service:
//
//	onTrip := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
//		// Write to the service's own tables through tx only; tx.Emit emits events.
//	}
//	go consumer.Run(ctx, consumer.Config{
//		Name:   "billing-from-trips",
//		Source: "trip",
//		Client: eventsv1.NewEventStreamServiceClient(tripConn),
//		Pool:   pool,
//		Notify: log.Notify,
//		Types:  []string{"trip.trip.completed"},
//		Logger: logger,
//	}, onTrip)
//	parking := consumer.NewParking(pool, map[string]consumer.Handler{"billing-from-trips": onTrip},
//		consumer.ParkingOptions{Notify: log.Notify})
//	consumeradmin.Register(srv.GRPC, "billing", parking)
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/txn"
)

// instrumentation is the name of the package's tracer and meter.
const instrumentation = "github.com/waybill/waybill/kit/consumer"

// Handler applies one event to the consuming service's tables using tx, the transaction
// in which the consumer's cursor is advanced past the event: the handler's writes, the
// events it emits (tx.Emit) and the cursor commit together or not at all. It must do all
// its work through tx (no calls with effects outside the database), because a transaction
// may be rolled back and the handler run again. A returned error means "not applied": the
// event is retried and finally parked. ctx carries a span linked to the producer's.
type Handler func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error

// ErrCursorOutOfRange is returned by Run when the source no longer holds the events after
// the consumer's cursor (it answered OUT_OF_RANGE: the cursor is older than its
// retention). The consumer must resynchronize from the source's current state; Run cannot
// repair that on its own.
var ErrCursorOutOfRange = errors.New("cursor older than the source's retention; resynchronize")

// Backoff is a delay that starts at Initial and doubles on each further try up to Max
// (an exponential backoff of github.com/cenkalti/backoff).
type Backoff struct {
	// Initial is the first delay.
	Initial time.Duration
	// Max caps the delay.
	Max time.Duration
}

// spread is how far Run spreads its reconnection delays (±20%), so that consumers cut
// off together do not come back in step. Handler retries are not spread.
const spread = 0.2

// exponential returns the backoff policy of b, each delay spread by ±randomization (0
// for none).
func (b Backoff) exponential(randomization float64) *backoff.ExponentialBackOff {
	e := &backoff.ExponentialBackOff{
		InitialInterval:     b.Initial,
		RandomizationFactor: randomization,
		Multiplier:          2,
		MaxInterval:         b.Max,
	}
	e.Reset()
	return e
}

// orDefault returns def for the zero Backoff, and b completed otherwise: a missing
// Initial is def's, and Max is at least Initial, so a delay is never zero.
func (b Backoff) orDefault(def Backoff) Backoff {
	if b == (Backoff{}) {
		return def
	}
	if b.Initial <= 0 {
		b.Initial = def.Initial
	}
	b.Max = max(b.Max, b.Initial)
	return b
}

// Defaults of Config's tuning fields.
var (
	// DefaultReconnect is how long Run waits before resubscribing after a stream failed,
	// and before retrying a database operation that failed.
	DefaultReconnect = Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	// DefaultRetry is how long Run waits between tries of a failing handler.
	DefaultRetry = Backoff{Initial: 100 * time.Millisecond, Max: 1600 * time.Millisecond}
)

const (
	// DefaultAttempts is how many times a failing handler is tried before its event is
	// parked.
	DefaultAttempts = 5
	// DefaultStallTimeout is how long a stream may stay silent (no event, no heartbeat)
	// before Run considers it dead and resubscribes. Sources send heartbeats every few
	// seconds while idle.
	DefaultStallTimeout = 30 * time.Second
	// DefaultMaxBatch is the most events Run applies in one transaction.
	DefaultMaxBatch = 256
	// DefaultLinger is how long a batch waits for more events after its first one. A
	// steady trickle of events then shares transactions (at 500 events/s, by arithmetic,
	// about three per transaction instead of one), for at most this much more lag; a backlog fills its
	// batches without waiting.
	DefaultLinger = 5 * time.Millisecond
	// NoStreamRetry is how long Run waits before subscribing again to a source that
	// answered UNIMPLEMENTED (it serves no event stream).
	NoStreamRetry = time.Minute
)

// Config configures Run.
type Config struct {
	// Name identifies the consumer within its service (for example "fares-from-trips");
	// it keys the cursor and parked events, so it must not change once used.
	Name string
	// Source is the emitting service's name (for example "trip"), sent as
	// SubscribeRequest.service.
	Source string
	// Client subscribes to the source's event stream.
	Client eventsv1.EventStreamServiceClient
	// Pool is the consuming service's database pool; its search_path must reach the
	// tables of Migrations (and the outbox, when handlers emit events). Run's
	// transactions go through a kit/txn Runner on it.
	Pool *pgxpool.Pool
	// Notify runs after the commit of a batch whose handlers emitted events
	// (txn.Options.Notify): pass the service's outbox.Log.Notify to wake its sequencer at
	// once.
	Notify func()
	// Committed, when set, runs after a batch's transaction has committed, with the keys
	// of the events whose handler ran in it (in batch order, repeats included; parked and
	// skipped events are not in it; a batch without any calls nothing): for work that must
	// see the handlers' writes committed, such as waking the readers of the aggregates
	// they changed. It runs on the consumer's goroutine and must not block. A batch that
	// rolled back calls nothing.
	Committed func(keys []string)
	// Types filters the stream to these event types; empty delivers all.
	Types []string
	// PayloadMode chooses fat or skinny events.
	PayloadMode eventsv1.PayloadMode
	// Logger receives the consumer's logs; nil discards them.
	Logger *slog.Logger
	// Meter creates the consumer's instruments; nil uses the global meter provider.
	Meter metric.Meter
	// TracerProvider creates the handler spans; nil uses the global tracer provider.
	TracerProvider trace.TracerProvider

	// Reconnect paces resubscribing and retrying the database; zero means
	// DefaultReconnect, and a missing Initial is DefaultReconnect's.
	Reconnect Backoff
	// Retry paces the tries of a failing handler; zero means DefaultRetry, and a
	// missing Initial is DefaultRetry's.
	Retry Backoff
	// Attempts is how many times a failing handler is tried before its event is parked;
	// 0 means DefaultAttempts.
	Attempts int
	// StallTimeout is how long a silent stream is trusted; 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxBatch caps the events applied in one transaction; 0 means DefaultMaxBatch.
	MaxBatch int
	// Linger is how long a batch waits for more events after its first one; 0 means
	// DefaultLinger, and a negative value applies only the events that have already
	// arrived.
	Linger time.Duration

	// Group, with Group.Partitions above 0, makes this Run one member of a consumer
	// group that splits the stream by key into partitions (see Group); the zero Group
	// consumes the whole stream on one cursor.
	Group Group
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	var missing []string
	if c.Name == "" {
		missing = append(missing, "Name")
	}
	if c.Source == "" {
		missing = append(missing, "Source")
	}
	if c.Client == nil {
		missing = append(missing, "Client")
	}
	if c.Pool == nil {
		missing = append(missing, "Pool")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("consumer: Config is missing %s", strings.Join(missing, ", "))
	}
	if c.Attempts < 0 || c.MaxBatch < 0 || c.StallTimeout < 0 {
		return c, errors.New("consumer: negative Attempts, MaxBatch or StallTimeout")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Meter == nil {
		c.Meter = otel.Meter(instrumentation)
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	c.Reconnect = c.Reconnect.orDefault(DefaultReconnect)
	c.Retry = c.Retry.orDefault(DefaultRetry)
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	c.Logger = c.Logger.With(slog.String("consumer", c.Name), slog.String("source", c.Source))
	var err error
	if c.Group, err = c.Group.withDefaults(); err != nil {
		return c, err
	}
	return c, nil
}

// Run consumes cfg.Source's events with h until ctx ends, then returns nil. It resumes
// after the cursor stored for (cfg.Name, cfg.Source) and applies each event in a
// transaction that also advances the cursor (see Handler), a batch of already-arrived
// events per transaction when it is behind.
//
// Run does not return on transient failures: when the source is unreachable, the stream
// breaks or stays silent past cfg.StallTimeout, or the database fails, it logs, waits
// (cfg.Reconnect) and tries again, resuming from the committed cursor. A handler error is
// retried (cfg.Attempts tries, cfg.Retry apart) and then the event is parked. Run returns
// an error wrapping ErrCursorOutOfRange when the source has pruned the events after the
// cursor, and an error at once when cfg is incomplete.
//
// Several replicas may run the same consumer: each event is still applied once (the
// cursor row is locked and checked in every transaction), though each replica receives
// every event. With cfg.Group, the replicas split the stream's partitions instead (see
// Group); Run then returns an error wrapping ErrPartitionsChanged when the group was
// created with another partition count.
func Run(ctx context.Context, cfg Config, h Handler) error {
	if h == nil {
		return errors.New("consumer: nil Handler")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	c := &consumer{cfg: cfg, h: h, log: cfg.Logger, tracer: newTracer(cfg.TracerProvider),
		tx: txn.New(cfg.Pool, txn.Options{Notify: cfg.Notify})}
	c.metrics, err = newMetrics(cfg, &c.lag)
	if err != nil {
		return err
	}
	defer c.metrics.close()
	if cfg.Group.enabled() {
		stop, err := c.startGroup(ctx)
		if err != nil || stop == nil {
			return err
		}
		defer stop()
	}
	return c.run(ctx)
}

// consumer is one Run.
type consumer struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	tracer  *tracer
	metrics *metrics
	lag     lagState
	tx      *txn.Runner

	// The committed position, as last read or written by this consumer. A group member
	// holds the position its session has worked through instead.
	seq    int64
	cursor string

	// Consumer groups only (nil otherwise; see groupapply.go).
	group        *group
	owned        *ownership // the session's partitions
	plag         *partLags
	committedSeq int64     // the position the member last stored
	advanced     time.Time // when the member last stored its position
}

// run subscribes, consumes until the stream ends, and subscribes again, until ctx ends.
func (c *consumer) run(ctx context.Context) error {
	reconnect := c.cfg.Reconnect.exponential(spread)
	noStream := Backoff{Initial: NoStreamRetry, Max: NoStreamRetry}.exponential(spread)
	missing := false // the last subscription found no event stream at the source
	for {
		received, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if c.group != nil && (errors.Is(err, errRebalanced) || errors.Is(err, errLeaseLost)) {
			// The member's partitions changed: resubscribe at once for the new ones.
			c.log.Info("consumer group partitions changed; resubscribing", slog.Any("reason", err))
			if errors.Is(err, errLeaseLost) {
				if err := c.group.tick(ctx); err != nil && !sleep(ctx, reconnect.NextBackOff()) {
					return nil
				}
			}
			continue
		}
		if received > 0 {
			reconnect.Reset() // the stream worked: the next try is quick
		}
		code := status.Code(err)
		c.metrics.streamError(ctx, code)
		if code == codes.OutOfRange {
			c.log.Error("cursor older than the source's retention; resynchronize", slog.String("cursor", c.cursor), slog.Any("error", err))
			return fmt.Errorf("consumer %s, source %s: %w: %w", c.cfg.Name, c.cfg.Source, ErrCursorOutOfRange, err)
		}
		delay := reconnect.NextBackOff()
		level := slog.LevelWarn
		switch {
		case transient(code):
			level = slog.LevelInfo
		case code == codes.Unimplemented:
			// The source serves no event stream (not yet deployed with one, say): ask
			// again now and then, warning once rather than every few seconds.
			delay = noStream.NextBackOff()
			if missing {
				level = slog.LevelDebug
			}
		}
		missing = code == codes.Unimplemented
		c.log.Log(ctx, level, "event stream ended; resubscribing", slog.Any("error", err),
			slog.Int("received", received), slog.Duration("retry_in", delay))
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

// transient reports whether a stream ending with code is routine (a server shutting down,
// a network blip, a slow consumer cut off) rather than worth a warning.
func transient(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.ResourceExhausted, codes.Canceled, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// errStalled ends a stream that stayed silent past the stall timeout.
var errStalled = status.Error(codes.Unavailable, "event stream silent past the stall timeout")

// session loads the cursor, subscribes after it and applies what arrives until the stream
// ends. It returns how many messages arrived and why the stream ended.
func (c *consumer) session(ctx context.Context) (received int, err error) {
	if err := c.loadCursor(ctx); err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.group != nil {
		// A rebalance ends the session; the next one starts from the new partitions.
		changed := c.owned.changed
		go func() {
			select {
			case <-changed:
				cancel()
			case <-sctx.Done():
			}
		}()
	}
	stream, err := c.cfg.Client.Subscribe(sctx, &eventsv1.SubscribeRequest{
		Service:     c.cfg.Source,
		AfterCursor: c.cursor,
		Types:       c.cfg.Types,
		PayloadMode: c.cfg.PayloadMode,
	})
	if err != nil {
		return 0, err
	}
	// The receiver reads ahead into msgs while the applier works, so network and
	// database overlap and a backlog arrives in batches.
	msgs := make(chan *eventsv1.SubscribeResponse, c.cfg.MaxBatch)
	var recvErr error
	go func() {
		defer close(msgs)
		received, recvErr = c.receive(sctx, cancel, stream, msgs)
	}()
	applyErr := c.apply(ctx, msgs)
	cancel()
	for range msgs { // wait for the receiver: it writes received and recvErr
	}
	if applyErr != nil {
		return received, applyErr
	}
	if c.group != nil && c.owned.stale() {
		return received, errRebalanced
	}
	return received, recvErr
}

// receive reads the stream into msgs until it fails. A stream silent for longer than the
// stall timeout is cancelled.
func (c *consumer) receive(ctx context.Context, cancel context.CancelFunc, stream eventsv1.EventStreamService_SubscribeClient, msgs chan<- *eventsv1.SubscribeResponse) (int, error) {
	var stalled atomic.Bool
	// The flag is set before the cancel that makes Recv fail, so Recv's caller sees it.
	timer := time.AfterFunc(c.cfg.StallTimeout, func() { stalled.Store(true); cancel() })
	defer timer.Stop()
	n := 0
	for {
		// Only time spent waiting on the network counts; a busy applier is not a stall.
		timer.Reset(c.cfg.StallTimeout)
		msg, err := stream.Recv()
		timer.Stop()
		if err != nil {
			if stalled.Load() {
				return n, errStalled
			}
			return n, err
		}
		n++
		if ev := msg.GetEvent(); ev != nil {
			c.lag.received(ev)
			c.plag.received(ev)
		}
		select {
		case msgs <- msg:
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

// apply applies the messages from msgs until msgs is closed (nil) or ctx ends. Events
// that arrive within Linger of a batch's first are applied with it, up to MaxBatch per
// transaction; a heartbeat ends the batch.
func (c *consumer) apply(ctx context.Context, msgs <-chan *eventsv1.SubscribeResponse) error {
	var next *eventsv1.SubscribeResponse // read ahead while filling a batch
	batch := make([]*eventsv1.SubscribeResponse, 0, c.cfg.MaxBatch)
	for {
		msg := next
		next = nil
		if msg == nil {
			var ok bool
			select {
			case msg, ok = <-msgs:
				if !ok {
					return nil
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if msg.GetEvent() == nil {
			c.heartbeat(ctx, msg.GetCursor())
			continue
		}
		batch = append(batch[:0], msg)
		var linger *time.Timer // nil: take only what has arrived
		if c.cfg.Linger > 0 && len(msgs) < c.cfg.MaxBatch-1 {
			linger = time.NewTimer(c.cfg.Linger)
		}
	fill:
		for len(batch) < c.cfg.MaxBatch {
			var m *eventsv1.SubscribeResponse
			var ok bool
			select {
			case m, ok = <-msgs:
			default:
				if linger == nil {
					break fill
				}
				select {
				case m, ok = <-msgs:
				case <-linger.C:
					break fill
				case <-ctx.Done():
					linger.Stop()
					return ctx.Err()
				}
			}
			if !ok {
				break fill
			}
			if m.GetEvent() == nil {
				next = m
				break fill
			}
			batch = append(batch, m)
		}
		if linger != nil {
			linger.Stop()
		}
		if err := c.process(ctx, batch); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx ends, reporting whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
