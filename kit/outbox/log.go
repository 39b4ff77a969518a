package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Options.
const (
	// DefaultPollInterval is how often a sequencer looks for other processes' events.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultBatchSize is the most events one sequencer transaction moves.
	DefaultBatchSize = 1000
	// DefaultRetention is how long the log keeps events.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultPruneInterval is how often Run prunes the log.
	DefaultPruneInterval = 10 * time.Minute
)

// busyBatchSpacing is the least time between the starts of two sequencer batches while
// commits keep arriving: at most 200 batches a second, so that under load each batch
// moves many events and the sequencer costs writers little, for at most 5 ms more
// latency.
const busyBatchSpacing = 5 * time.Millisecond

// Options configures a Log. The zero value uses the defaults.
type Options struct {
	// PollInterval is how often the sequencer looks for events written by other
	// processes, which cannot wake it (DefaultPollInterval).
	PollInterval time.Duration
	// BatchSize is the most events one sequencer transaction moves (DefaultBatchSize).
	BatchSize int
	// Retention is how long Run keeps sequenced events before pruning them
	// (DefaultRetention); a negative value disables pruning.
	Retention time.Duration
	// PruneInterval is how often Run prunes (DefaultPruneInterval).
	PruneInterval time.Duration
	// Logger receives the sequencer's errors; nil discards them.
	Logger *slog.Logger
}

// Log is one schema's event log as seen from one process: the sequencer that moves
// committed outbox rows into event_log, the in-process wake-ups around it, and
// retention. Create one per process and schema with New, and start Run.
type Log struct {
	pool   *pgxpool.Pool
	schema string
	opts   Options
	log    *slog.Logger

	moveSQL  string
	pruneSQL string

	wake chan struct{} // Notify's signal to Run; holds at most one

	mu    sync.Mutex
	hooks []func([]Logged) // OnAppend's
	seqMu sync.Mutex       // one batch at a time within the process
}

// Logged is an event as the sequencer appended it to the log.
type Logged struct {
	// Seq is the event's position in the log.
	Seq int64
	// EventID is the event's UUID.
	EventID string
	// Type and Key are Event's.
	Type, Key string
	// PayloadType is the payload's type URL, empty when the event has no payload.
	PayloadType string
	// Payload is the payload's serialized value.
	Payload []byte
	// TraceContext is the producer's W3C trace context; nil when there was no span.
	TraceContext map[string]string
	// OccurredAt is when the event was written.
	OccurredAt time.Time
}

// New returns the log of schema, whose tables Migrations created. It does no I/O.
func New(pool *pgxpool.Pool, schema string, opts Options) *Log {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	return &Log{
		pool:     pool,
		schema:   schema,
		opts:     opts,
		log:      logger.With(slog.String("schema", schema)),
		moveSQL:  fmt.Sprintf(moveSQL, t("event_log_head"), t("outbox"), t("event_log")),
		pruneSQL: fmt.Sprintf(pruneSQL, t("event_log"), t("event_log_head")),
		wake:     make(chan struct{}, 1),
	}
}

// Notify wakes the sequencer: call it after committing a transaction that emitted
// events. It never blocks; wake-ups that arrive while the sequencer is busy coalesce.
func (l *Log) Notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// OnAppend registers fn to receive, in seq order, the events of every batch this
// process's sequencer appends to the log, right after the batch commits. fn runs on the sequencer's goroutine and must not block;
// it must not modify the events. A reader uses it to fan out new events without reading
// them back from the database. Register before Run starts.
func (l *Log) OnAppend(fn func([]Logged)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hooks = append(l.hooks, fn)
}

func (l *Log) appendedHooks() []func([]Logged) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hooks
}

// Wait returns once no batch of this process's sequencer is running: a batch that was
// running when Wait was called has committed, or failed, and has been handed to the
// OnAppend hooks. A reader that hears of a new batch from PostgreSQL's notification
// calls it first, so that when the batch was this process's own, the hand-over comes
// before the reader decides to read the batch back from the log.
func (l *Log) Wait() {
	l.seqMu.Lock()
	defer l.seqMu.Unlock()
}

// Run is the sequencer: until ctx is done it moves committed outbox rows to the log,
// when Notify wakes it and every PollInterval, and it prunes the log every
// PruneInterval. A wake-up that finds it idle is served at once; while commits keep
// arriving, batches start at most every 5 ms, so that each moves many events.
// Errors (the database being unreachable, say) are logged and retried with backoff. Run
// one per process and schema; replicas may each run one, their batches take turns. It
// returns nil when ctx is done.
func (l *Log) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if l.opts.Retention > 0 {
		wg.Go(func() { l.pruneLoop(ctx) })
	}
	poll := time.NewTicker(l.opts.PollInterval)
	defer poll.Stop()
	// After an error, wait 50 ms, doubling to 5 s, with jitter so that replicas that lost
	// the database together do not come back in step.
	retry := &backoff.ExponentialBackOff{
		InitialInterval:     50 * time.Millisecond,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         5 * time.Second,
	}
	for {
		started := time.Now()
		n, busy, err := l.sequence(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			delay := retry.NextBackOff()
			l.log.Error("sequence outbox", slog.Any("error", err), slog.Duration("retry_in", delay))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			continue
		}
		retry.Reset()
		// Commits arrived while the batch was in the database: the log is busy.
		// Spacing batches a little then lets each move many events, so the sequencer,
		// its notifications and the readers cost the database little per event. A
		// wake-up that finds the sequencer idle is served at once.
		if wait := time.Until(started.Add(busyBatchSpacing)); busy && n > 0 && wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-poll.C:
		}
	}
}

func (l *Log) pruneLoop(ctx context.Context) {
	t := time.NewTicker(l.opts.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := l.Prune(ctx, l.opts.Retention)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Error("prune event log", slog.Any("error", err))
		case n > 0:
			l.log.Info("pruned event log", slog.Int64("events", n))
		}
	}
}

// moveSQL moves up to $1 committed outbox rows, in id order, to the log with the next
// sequence numbers, advances the head, notifies $2 and returns the appended events, in
// one statement. It runs after the advisory lock was taken, in the same transaction, so
// its snapshot sees every batch committed before. The head is read by scalar
// subqueries, not joined, which keeps the planner's estimates (and so its cost, and
// whether it JIT-compiles) small. The notification is an uncorrelated scalar subquery,
// evaluated once, and not at all when nothing moved.
const moveSQL = `WITH moved AS (
    DELETE FROM %[2]s WHERE id = ANY (ARRAY(SELECT id FROM %[2]s ORDER BY id LIMIT $1))
    RETURNING id, event_id, type, key, payload_type, payload, trace_context, occurred_at
), logged AS (
    INSERT INTO %[3]s (seq, event_id, type, key, payload_type, payload, trace_context, occurred_at)
    SELECT (SELECT last_seq FROM %[1]s) + row_number() OVER (ORDER BY id),
           event_id, type, key, payload_type, payload, trace_context, occurred_at
    FROM moved
    RETURNING seq, event_id, type, key, payload_type, payload, trace_context, occurred_at
), advanced AS (
    UPDATE %[1]s SET last_seq = (SELECT max(seq) FROM logged)
    WHERE EXISTS (SELECT 1 FROM logged)
    RETURNING last_seq
)
SELECT seq, event_id::text, type, key, coalesce(payload_type, ''), payload, trace_context, occurred_at,
       (SELECT pg_notify($2, last_seq::text) FROM advanced)
FROM logged
ORDER BY seq`

// Sequence moves every outbox row committed so far to the log, in batches of
// BatchSize, and returns how many it moved. Run calls it; tests and tools may call it
// directly.
func (l *Log) Sequence(ctx context.Context) (int, error) {
	n, _, err := l.sequence(ctx)
	return n, err
}

// sequence is Sequence, also reporting whether a Notify arrived while a batch was in
// the database (before the hooks ran, whose subscribers may well cause the next one).
func (l *Log) sequence(ctx context.Context) (total int, busy bool, err error) {
	l.seqMu.Lock()
	defer l.seqMu.Unlock()
	hooks := l.appendedHooks()
	for {
		events, err := l.batch(ctx)
		if err != nil {
			return total, busy, fmt.Errorf("sequence outbox: %w", err)
		}
		total += len(events)
		busy = busy || len(l.wake) > 0
		if len(events) > 0 {
			for _, fn := range hooks {
				fn(events)
			}
		}
		if len(events) < l.opts.BatchSize {
			return total, busy, nil
		}
	}
}

// batch runs one sequencer transaction and returns the events it moved. The two statements go in one round trip and run in one
// implicit transaction (a pgx batch ends with a single Sync); each takes its own
// snapshot (READ COMMITTED), so the move sees the commits of every batch that held the
// lock before.
func (l *Log) batch(ctx context.Context) ([]Logged, error) {
	b := &pgx.Batch{}
	// JIT compilation can cost this short statement far more than the statement itself
	// when the planner misjudges a small table's size; it never pays off here. The move's
	// plan is the same whatever its parameters, but with a backlog in the outbox the plan
	// cache kept choosing to re-plan it for its LIMIT on every batch (BenchmarkSequence:
	// 4-5 µs of backend CPU per event at batches of 40), so the generic plan is forced.
	b.Queue("SELECT pg_advisory_xact_lock(hashtext($1)), set_config('jit', 'off', true), "+
		"set_config('plan_cache_mode', 'force_generic_plan', true)", l.schema+".event_log")
	b.Queue(l.moveSQL, l.opts.BatchSize, Channel(l.schema))
	br := l.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	var events []Logged
	rows, err := br.Query()
	if err == nil {
		events, err = pgx.CollectRows(rows, scanLogged)
	}
	if cerr := br.Close(); err == nil {
		err = cerr // the commit
	}
	if err != nil {
		return nil, fmt.Errorf("move: %w", err)
	}
	return events, nil
}

func scanLogged(row pgx.CollectableRow) (Logged, error) {
	var e Logged
	err := row.Scan(&e.Seq, &e.EventID, &e.Type, &e.Key, &e.PayloadType, &e.Payload, &e.TraceContext, &e.OccurredAt, nil)
	return e, err
}
