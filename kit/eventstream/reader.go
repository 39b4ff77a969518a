package eventstream

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/outbox"
)

// Defaults of ReaderOptions.
const (
	// DefaultReaderPollInterval is how often a reader looks at the log unprompted.
	DefaultReaderPollInterval = time.Second
	// DefaultReaderPageSize is the most events a reader reads at once.
	DefaultReaderPageSize = 1000
)

// ReaderOptions configures a Reader. The zero value uses the defaults.
type ReaderOptions struct {
	// PollInterval is how often the reader looks at the log without a wake-up, in case
	// a notification was lost (DefaultReaderPollInterval).
	PollInterval time.Duration
	// PageSize is the most events one read of the log returns (DefaultReaderPageSize).
	PageSize int
	// Logger receives the reader's errors; nil discards them.
	Logger *slog.Logger
}

// Reader tails one schema's event log and fans each new event out to every live
// subscriber of this process. Create one per process and schema with NewReader, start
// Run, and pass it to NewServer.
type Reader struct {
	pool   *pgxpool.Pool
	schema string
	opts   ReaderOptions
	log    *slog.Logger
	tables logTables
	own    *outbox.Log  // this process's sequencer of the schema; nil if none
	reads  atomic.Int64 // reads of the log by Run (tests: LogReads)

	ready   chan struct{} // closed when Run knows the log's head
	stopped chan struct{} // closed when Run returns
	wake    chan struct{} // asks Run to read the log; holds at most one

	mu      sync.Mutex
	started bool
	tail    int64 // every event up to tail has been handed to the subscribers
	subs    map[*subscriber]struct{}
}

// subscriber is one subscription's place in the fan-out.
type subscriber struct {
	ch     chan *record
	once   sync.Once
	err    error         // set before failed is closed
	failed chan struct{} // closed when the reader dropped the subscriber
}

// fail records why the subscriber was dropped; the first reason wins.
func (s *subscriber) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.failed)
	})
}

var (
	errTooSlow       = status.Error(codes.ResourceExhausted, "subscriber too slow; resubscribe from your cursor")
	errReaderStopped = status.Error(codes.Unavailable, "event stream reader stopped; resubscribe")
	errOutOfRange    = status.Error(codes.OutOfRange, "cursor older than retention; resynchronize")
)

// NewReader returns a reader of schema's event log (tables made by outbox.Migrations).
// log, when not nil, is this process's outbox.Log for the schema: its sequencer wakes
// the reader the moment it appends. Other processes' appends arrive by LISTEN on
// outbox.Channel(schema), and by polling. It does no I/O.
func NewReader(pool *pgxpool.Pool, schema string, log *outbox.Log, opts ReaderOptions) *Reader {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultReaderPollInterval
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultReaderPageSize
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{
		pool:    pool,
		schema:  schema,
		opts:    opts,
		log:     logger.With(slog.String("schema", schema)),
		tables:  newLogTables(schema),
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		subs:    make(map[*subscriber]struct{}),
		own:     log,
	}
	if log != nil {
		log.OnAppend(r.handOver)
	}
	return r
}

// signal asks Run to read the log.
func (r *Reader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// handOver receives the batches this process's sequencer appends and fans them out
// without reading them back. A batch that does not follow the tail (the reader is not
// running yet, or is behind) is left for Run to read.
func (r *Reader) handOver(events []outbox.Logged) {
	if len(events) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.ready:
	default:
		return // Run starts at the head, which includes this batch or follows it
	}
	if events[0].Seq > r.tail+1 {
		r.signal()
		return
	}
	recs := make([]*record, 0, len(events))
	for i := range events {
		if events[i].Seq > r.tail {
			recs = append(recs, recordOf(&events[i]))
		}
	}
	r.dispatchLocked(recs)
}

// Run tails the log until ctx is done, holding one connection of its own for LISTEN;
// database errors are logged and retried with backoff while subscribers stay connected.
// When it returns, which is nil when ctx is done, every subscription ends with
// UNAVAILABLE. Call it once.
func (r *Reader) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("eventstream: Reader.Run called twice")
	}
	r.started = true
	r.mu.Unlock()
	defer r.stop()

	// Start at the head: subscribers read older events themselves.
	retry := newRetryBackOff()
	for {
		last, _, err := r.tables.head(ctx, r.pool)
		if err == nil {
			r.mu.Lock()
			r.tail = last
			r.mu.Unlock()
			close(r.ready)
			break
		}
		if !r.retry(ctx, "read event log head", err, retry) {
			return nil
		}
	}
	retry.Reset()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.listen(ctx) })

	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	for {
		if err := r.readNew(ctx); err != nil {
			if !r.retry(ctx, "tail event log", err, retry) {
				return nil
			}
			continue
		}
		retry.Reset()
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-poll.C:
		}
	}
}

// newRetryBackOff returns the pace of retries after database errors: 100 ms, doubling
// to 5 s, each delay jittered by half either way so that readers that lost the database
// together do not come back in step.
func newRetryBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     100 * time.Millisecond,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         5 * time.Second,
	}
}

// retry logs err and waits b's next delay; it reports false when ctx ended first.
func (r *Reader) retry(ctx context.Context, what string, err error, b *backoff.ExponentialBackOff) bool {
	if ctx.Err() != nil {
		return false
	}
	delay := b.NextBackOff()
	r.log.Error(what, slog.Any("error", err), slog.Duration("retry_in", delay))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(delay):
		return true
	}
}

// stop ends every subscription; later ones fail at once.
func (r *Reader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.stopped)
	for s := range r.subs {
		s.fail(errReaderStopped)
		delete(r.subs, s)
	}
}

// readNew reads and fans out every event after the tail.
func (r *Reader) readNew(ctx context.Context) error {
	for {
		r.mu.Lock()
		after := r.tail
		r.mu.Unlock()
		r.reads.Add(1)
		recs, err := r.tables.page(ctx, r.pool, after, r.opts.PageSize)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			r.dispatch(recs)
		}
		if len(recs) < r.opts.PageSize {
			return nil
		}
	}
}

// dispatch hands recs, which follow the tail, to every subscriber.
func (r *Reader) dispatch(recs []*record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dispatchLocked(recs)
}

func (r *Reader) dispatchLocked(recs []*record) {
	// A read and a hand-over may overlap: skip what the subscribers already have.
	for len(recs) > 0 && recs[0].seq <= r.tail {
		recs = recs[1:]
	}
	if len(recs) == 0 {
		return
	}
	if first := recs[0].seq; first != r.tail+1 {
		// The log is gap-free above pruned_through: retention deleted events before
		// this reader read them. Subscribers behind them must resynchronize.
		r.log.Warn("event log pruned past the reader", slog.Int64("tail", r.tail), slog.Int64("next", first))
		for s := range r.subs {
			s.fail(errOutOfRange)
			delete(r.subs, s)
		}
	}
	for s := range r.subs {
		for _, rec := range recs {
			select {
			case s.ch <- rec:
				continue
			default:
			}
			s.fail(errTooSlow)
			delete(r.subs, s)
			break
		}
	}
	r.tail = recs[len(recs)-1].seq
}

// register adds a subscriber with a buffer of size events. Every event after the
// returned tail will be in its buffer; the caller reads those up to the tail itself.
func (r *Reader) register(size int) (*subscriber, int64, error) {
	s := &subscriber{ch: make(chan *record, size), failed: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stopped:
		return nil, 0, errReaderStopped
	default:
	}
	r.subs[s] = struct{}{}
	return s, r.tail, nil
}

func (r *Reader) unregister(s *subscriber) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.subs, s)
}

// subscribers returns how many subscribers are in the fan-out.
func (r *Reader) subscribers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

// listen holds a connection listening on the schema's channel and signals wake for
// every notification, reconnecting with backoff when it breaks.
func (r *Reader) listen(ctx context.Context) {
	retry := newRetryBackOff()
	for {
		connected, err := r.listenOnce(ctx)
		if connected {
			retry.Reset()
		}
		if !r.retry(ctx, "listen for event log notifications", err, retry) {
			return
		}
	}
}

func (r *Reader) listenOnce(ctx context.Context) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{outbox.Channel(r.schema)}.Sanitize()); err != nil {
		return false, err
	}
	r.signal() // appends made while no connection listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		// The payload is the batch's last seq: a batch this reader has already read
		// (this process's own, handed over by OnAppend) needs no read. The notification
		// of this process's own batch often arrives before the sequencer has handed the
		// batch over, so wait for the sequencer's running batch first.
		if last, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			if r.own != nil {
				r.own.Wait()
			}
			r.mu.Lock()
			seen := last <= r.tail
			r.mu.Unlock()
			if seen {
				continue
			}
		}
		r.signal()
	}
}
