package providerclient

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
)

// Sink is where the feeds write: billing's read model.
type Sink interface {
	// ApplySummary applies a summary in tx (the consumer's transaction) and reports
	// whether it changed anything.
	ApplySummary(ctx context.Context, tx *txn.Tx, s billing.Summary, now time.Time) (bool, error)
	// RequestRefresh marks a reservation in tx for the refresher.
	RequestRefresh(ctx context.Context, tx *txn.Tx, provider, reservationID string, now time.Time) error
	// PendingRefresh returns reservations of provider on bills waiting for a refresh.
	PendingRefresh(ctx context.Context, provider string, limit int) ([]billing.RefreshRequest, error)
	// CompleteRefresh applies fetched summaries (nil: the provider no longer knows the
	// reservation) and clears the requests.
	CompleteRefresh(ctx context.Context, provider string, done []billing.RefreshRequest, sums []*billing.Summary, now time.Time) error
}

// FeedOptions tunes the feeds.
type FeedOptions struct {
	// Pool is billing's pool: the consumers' cursors and dead letters live in its schema.
	Pool *pgxpool.Pool
	// Sink is the read model.
	Sink Sink
	// Notify wakes billing's outbox sequencer after the feeds changed bills (emitted
	// events).
	Notify func()
	// Meter and TracerProvider instrument the consumers; nil uses the globals.
	Meter          metric.Meter
	TracerProvider trace.TracerProvider
	// Reconnect paces resubscribing; zero uses the consumer's default.
	Reconnect consumer.Backoff
	// StallTimeout is how long a silent stream is trusted; zero uses the consumer's
	// default.
	StallTimeout time.Duration
	// RefreshInterval is how often the refresher looks for work without being woken
	// (default 1 s).
	RefreshInterval time.Duration
	// Restart paces restarting a feed whose consumer stopped (its cursor fell out of the
	// provider's retention); nil restarts every 30 s.
	Restart func() backoff.BackOff
}

func (o FeedOptions) restart() backoff.BackOff {
	if o.Restart == nil {
		return backoff.NewConstantBackOff(30 * time.Second)
	}
	return o.Restart()
}

// ConsumerName is the name of the consumer that applies provider's events; it keys its
// cursor and dead letters.
func ConsumerName(provider string) string { return "items-from-" + provider }

// feed is the running state of one provider's feed.
type feed struct {
	ps   *Providers
	p    *provider
	opts FeedOptions
	wake chan struct{}
}

// Handlers returns the consumer handler of every provider by consumer name, for the
// ConsumerAdminService's replays.
func (ps *Providers) Handlers(opts FeedOptions) map[string]consumer.Handler {
	m := map[string]consumer.Handler{}
	for name, p := range ps.byName {
		m[ConsumerName(name)] = ps.newFeed(p, opts).handle
	}
	return m
}

func (ps *Providers) newFeed(p *provider, opts FeedOptions) *feed {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Second
	}
	return &feed{ps: ps, p: p, opts: opts, wake: make(chan struct{}, 1)}
}

// RunFeeds runs, until ctx ends, for every provider: the consumer that applies its event
// stream to the read model, the refresher that fetches the reservations whose events
// could not be read, and a poll of the consumer's committed cursor (so that freshness
// also counts what other replicas applied).
func (ps *Providers) RunFeeds(ctx context.Context, opts FeedOptions) {
	var wg sync.WaitGroup
	for name, p := range ps.byName {
		f := ps.newFeed(p, opts)
		log := ps.opts.Logger.With(slog.String("provider", name))
		wg.Add(3)
		go func() {
			defer wg.Done()
			cfg := consumer.Config{
				Name: ConsumerName(name), Source: name,
				Client:      trackedClient{EventStreamServiceClient: p.events, t: p.track, now: ps.opts.Now},
				Pool:        opts.Pool,
				PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL,
				Logger:      log, Meter: opts.Meter, TracerProvider: opts.TracerProvider,
				Reconnect: opts.Reconnect, StallTimeout: opts.StallTimeout,
				Notify: opts.Notify,
			}
			// consumer.Run returns before ctx ends only when the provider pruned events
			// billing had not applied: the read model stays as it is (items keep their last
			// summary, STALE) until an operator resets the cursor; Run is restarted with
			// backoff meanwhile.
			_, _ = backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, consumer.Run(ctx, cfg, f.handle) },
				backoff.WithBackOff(opts.restart()), backoff.WithMaxElapsedTime(0),
				backoff.WithNotify(func(err error, next time.Duration) {
					log.Error("provider feed stopped", slog.Any("error", err), slog.Duration("restart_in", next))
					p.track.down()
				}))
		}()
		go func() { defer wg.Done(); f.refreshLoop(ctx, log) }()
		go func() { defer wg.Done(); f.pollCursor(ctx) }()
	}
	wg.Wait()
}

// handle is the consumer handler: it applies one provider event to the read model in
// tx.
func (f *feed) handle(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
	now := f.ps.opts.Now().UTC().Truncate(time.Microsecond)
	d := decode(f.p.name, ev)
	switch d.action {
	case apply:
		if _, err := f.opts.Sink.ApplySummary(ctx, tx, d.summary, now); err != nil {
			return err
		}
	case refresh:
		if err := f.opts.Sink.RequestRefresh(ctx, tx, f.p.name, d.summary.ReservationID, now); err != nil {
			return err
		}
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	f.p.track.applied(ev.GetSequence())
	return nil
}

// refreshLoop fetches, one batched GetReservationDetails call at a time, the details of
// reservations whose events billing could not read, and applies them.
func (f *feed) refreshLoop(ctx context.Context, log *slog.Logger) {
	tick := time.NewTicker(f.opts.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-f.wake:
			sleep(ctx, 20*time.Millisecond) // let the consumer's transaction commit
		}
		for range 20 {
			n, err := f.refreshOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("refresh reservations", slog.Any("error", err))
				}
				break
			}
			if n < f.ps.opts.BatchSize {
				break
			}
		}
	}
}

// refreshOnce refreshes one batch and returns its size.
func (f *feed) refreshOnce(ctx context.Context) (int, error) {
	reqs, err := f.opts.Sink.PendingRefresh(ctx, f.p.name, f.ps.opts.BatchSize)
	if err != nil || len(reqs) == 0 {
		return 0, err
	}
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ReservationID
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := f.ps.Details(dctx, f.p.name, ids, billing.ViewBasic)
	if err != nil {
		return 0, err
	}
	sums := make([]*billing.Summary, len(reqs))
	for i, r := range res {
		if r.Status == billing.LookupFound {
			s := r.Summary
			s.Provider, s.ReservationID = f.p.name, ids[i]
			sums[i] = &s
		}
	}
	now := f.ps.opts.Now().UTC().Truncate(time.Microsecond)
	return len(reqs), f.opts.Sink.CompleteRefresh(ctx, f.p.name, reqs, sums, now)
}

// pollCursor reads the consumer's committed position every second, so that events
// applied by another replica count for this replica's freshness.
func (f *feed) pollCursor(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if pos, err := consumer.Cursor(ctx, f.opts.Pool, ConsumerName(f.p.name), f.p.name); err == nil {
			f.p.track.applied(pos.Seq)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
