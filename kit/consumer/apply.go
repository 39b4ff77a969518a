package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

const (
	// loadCursorSQL creates the cursor row on first use and returns it. The two halves
	// see the same snapshot, so exactly one of them returns the row.
	loadCursorSQL = `
WITH created AS (
    INSERT INTO consumer_cursors (consumer, source) VALUES ($1, $2)
    ON CONFLICT (consumer, source) DO NOTHING
    RETURNING seq, cursor)
SELECT seq, cursor FROM created
UNION ALL
SELECT seq, cursor FROM consumer_cursors WHERE consumer = $1 AND source = $2`

	// asyncCommitSQL lets the batch's transaction commit without waiting for its WAL to
	// reach the disk (synchronous_commit off for this transaction only). That is safe
	// here: the cursor's advance commits with the handlers' writes, so a commit lost in a
	// crash of PostgreSQL loses both, and the events are applied again from the cursor
	// that survived. Anything that reads the consumer's writes and commits durably (an
	// outbox sequencer moving the events a handler emitted, say) flushes them with its own
	// commit. It saves a disk flush per batch, which a trickle of events pays per event.
	asyncCommitSQL = `SELECT set_config('synchronous_commit', 'off', true)`

	// lockCursorSQL serializes the transactions of every replica of a consumer and
	// tells them what is already applied.
	lockCursorSQL = `SELECT seq, cursor FROM consumer_cursors WHERE consumer = $1 AND source = $2 FOR UPDATE`

	// blockedKeysSQL returns the keys among $3 that have parked events, once per parked
	// event. The share locks make a concurrent replay that is deleting them finish first:
	// then either the key still has parked events (and this event parks behind them, where
	// a replay of the key will find it) or the replay has applied them all. Written with
	// = ANY, not as EXISTS over unnest($3): PostgreSQL re-planned that form on every call
	// (the array's length changes its estimate), 140-160 µs of planning for an 18 µs query
	// on every batch of every consumer; this one keeps its generic plan.
	blockedKeysSQL = `
SELECT p.key FROM parked_events p
WHERE p.consumer = $1 AND p.source = $2 AND p.key = ANY($3::text[])
FOR SHARE`

	// advanceCursorSQL moves the cursor past a batch, in the batch's transaction, right
	// after lockCursorSQL: the batch commits whole or not at all, so its end is known
	// before its handlers run. Events at or below the committed sequence are skipped,
	// so the cursor never moves back; an event without a sequence (0) moves it anyway.
	advanceCursorSQL = `
UPDATE consumer_cursors
SET seq = greatest(seq, $3),
    cursor = CASE WHEN $4 <> '' AND ($3 > seq OR $3 = 0) THEN $4 ELSE cursor END,
    updated_at = now()
WHERE consumer = $1 AND source = $2`

	// heartbeatCursorSQL stores a heartbeat's cursor unless another replica has moved
	// the cursor meanwhile.
	heartbeatCursorSQL = `UPDATE consumer_cursors SET cursor = $4, updated_at = now() WHERE consumer = $1 AND source = $2 AND seq = $3`

	parkSQL = `
INSERT INTO parked_events (consumer, source, seq, event_id, type, key, payload_type, payload, trace_context, occurred_at, error, attempts)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

	// waitingBehind is the log message of events parked behind a parked event of their
	// key; their error column stays empty.
	waitingBehind = "waiting behind parked event"
)

// handlerError is a handler's failure on batch[index]: a reason to retry and park that
// event, unlike a database failure, which is retried without counting.
type handlerError struct {
	index int
	err   error
}

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// errCursorMissing means the cursor row disappeared while the consumer ran (an operator
// deleted it to consume the source again from the start). Retrying cannot help; the
// stream ends and the next one starts from a new cursor.
var errCursorMissing = errors.New("the consumer's cursor row is gone; resubscribing from a new cursor")

// failure is why an event is being parked.
type failure struct {
	err      error
	attempts int
}

// loadCursor reads the committed position, creating it on first use, retrying database
// failures (the service's migrations may not have run yet) until ctx ends.
func (c *consumer) loadCursor(ctx context.Context) error {
	if c.group != nil {
		return c.loadGroupCursors(ctx)
	}
	return c.retryDB(ctx, "load cursor", func() error {
		err := c.cfg.Pool.QueryRow(ctx, loadCursorSQL, c.cfg.Name, c.cfg.Source).Scan(&c.seq, &c.cursor)
		if err != nil {
			return fmt.Errorf("load cursor: %w", err)
		}
		c.lag.reset(c.seq)
		return nil
	})
}

// heartbeat stores the cursor of a heartbeat, which may be past events the type filter
// dropped, so a restart does not scan them again. Everything before the heartbeat has
// been applied by now. A failure is harmless and only logged.
func (c *consumer) heartbeat(ctx context.Context, cursor string) {
	if c.group != nil {
		c.groupHeartbeat(ctx)
		return
	}
	if cursor == "" || cursor == c.cursor {
		return
	}
	tag, err := c.cfg.Pool.Exec(ctx, heartbeatCursorSQL, c.cfg.Name, c.cfg.Source, c.seq, cursor)
	if err != nil {
		c.log.Debug("store heartbeat cursor", slog.Any("error", err))
		return
	}
	if tag.RowsAffected() == 1 {
		c.cursor = cursor
	}
}

// process applies batch, in one transaction when every handler succeeds. When one fails,
// the events before it are applied on their own and the failing one is retried alone and
// finally parked; then the rest continue. It returns only when the batch is applied or
// parked, or ctx ends.
func (c *consumer) process(ctx context.Context, batch []*eventsv1.SubscribeResponse) error {
	for len(batch) > 0 {
		err := c.applyRetryingDB(ctx, batch, nil)
		var he *handlerError
		if !errors.As(err, &he) {
			return err // nil or ctx's error
		}
		if he.index > 0 {
			// Their handlers succeeded a moment ago; the failing event follows alone.
			if err := c.process(ctx, batch[:he.index]); err != nil {
				return err
			}
		}
		if err := c.retryOrPark(ctx, batch[he.index], he.err); err != nil {
			return err
		}
		batch = batch[he.index+1:]
	}
	return nil
}

// retryOrPark tries an event whose handler has failed once (with err) again, up to
// Attempts tries in all, paced by Retry, and parks it when the last one fails.
func (c *consumer) retryOrPark(ctx context.Context, msg *eventsv1.SubscribeResponse, err error) error {
	ev := msg.GetEvent()
	pace := c.cfg.Retry.exponential(0)
	for attempt := 1; ; attempt++ {
		log := c.log.With(slog.Int64("seq", ev.GetSequence()), slog.String("type", ev.GetType()),
			slog.String("key", ev.GetKey()), slog.Int("attempt", attempt), slog.Any("error", err))
		if attempt >= c.cfg.Attempts {
			log.Error("handler failed; parking the event")
			return c.applyRetryingDB(ctx, []*eventsv1.SubscribeResponse{msg}, &failure{err: err, attempts: attempt})
		}
		delay := pace.NextBackOff()
		log.Warn("handler failed; retrying", slog.Duration("retry_in", delay))
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		err = c.applyRetryingDB(ctx, []*eventsv1.SubscribeResponse{msg}, nil)
		var he *handlerError
		if !errors.As(err, &he) {
			return err
		}
		err = he.err
	}
}

// applyRetryingDB is applyTx retried, with backoff, for as long as it fails for reasons
// other than a handler's error, such as an unreachable database.
func (c *consumer) applyRetryingDB(ctx context.Context, batch []*eventsv1.SubscribeResponse, park *failure) error {
	return c.retryDB(ctx, "apply events", func() error { return c.applyTx(ctx, batch, park) })
}

// retryDB runs op until it succeeds, fails with a handler error, or ctx ends, paced by
// Reconnect.
func (c *consumer) retryDB(ctx context.Context, what string, op func() error) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := op()
		var he *handlerError
		if errors.As(err, &he) || errors.Is(err, errCursorMissing) || errors.Is(err, errLeaseLost) || errors.Is(err, ErrPartitionsChanged) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(c.cfg.Reconnect.exponential(spread)),
		backoff.WithMaxElapsedTime(0), // until ctx ends
		backoff.WithNotify(func(err error, delay time.Duration) {
			c.log.Warn(what+" failed; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		}))
	return err
}

// applyTx applies batch in one transaction (kit/txn: the events the handlers emit commit
// with it) and advances the cursor past it. Events at or below the committed sequence are
// skipped (a replica or an earlier try whose commit was not acknowledged applied them);
// events whose key has parked events are parked behind them. With park set, batch holds
// one event, parked with that failure instead of run.
func (c *consumer) applyTx(ctx context.Context, batch []*eventsv1.SubscribeResponse, park *failure) error {
	if c.group != nil {
		return c.applyGroupTx(ctx, batch, park)
	}
	// The batch's keys, and its end: its highest sequence and the cursor after its last
	// message.
	var keys []string
	seen := make(map[string]bool)
	var endSeq int64
	var endCursor string
	var newest *eventsv1.Event // the batch's last event, for the lag gauges
	for _, m := range batch {
		if k := m.GetEvent().GetKey(); k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		endSeq = max(endSeq, m.GetEvent().GetSequence())
		if m.GetCursor() != "" {
			endCursor = m.GetCursor()
		}
		if m.GetEvent() != nil {
			newest = m.GetEvent()
		}
	}

	var committedSeq int64
	var committedCursor string
	var handled, parked int
	var appliedKeys []string // for Config.Committed
	err := c.tx.Run(ctx, func(tx *txn.Tx) error {
		handled, parked, appliedKeys = 0, 0, appliedKeys[:0]
		// One round trip (with the transaction's BEGIN) makes the commit asynchronous,
		// locks the cursor, reads what is applied and parked, and advances the cursor
		// past the batch.
		var q pgx.Batch
		q.Queue(asyncCommitSQL)
		q.Queue(lockCursorSQL, c.cfg.Name, c.cfg.Source).QueryRow(func(row pgx.Row) error {
			return row.Scan(&committedSeq, &committedCursor)
		})
		blocked := c.queueBlockedKeys(&q, keys)
		q.Queue(advanceCursorSQL, c.cfg.Name, c.cfg.Source, endSeq, endCursor)
		if err := tx.SendBatch(ctx, &q).Close(); errors.Is(err, pgx.ErrNoRows) {
			return errCursorMissing
		} else if err != nil {
			return fmt.Errorf("lock and advance cursor: %w", err)
		}

		for i, m := range batch {
			ev := m.GetEvent()
			if ev.GetSequence() > 0 && ev.GetSequence() <= committedSeq {
				continue
			}
			wasParked, err := c.applyEvent(ctx, tx, i, ev, park, blocked, -1)
			if err != nil {
				return err
			}
			if wasParked {
				parked++
			} else {
				handled++
				if c.cfg.Committed != nil {
					appliedKeys = append(appliedKeys, ev.GetKey())
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.seq = max(committedSeq, endSeq)
	c.cursor = committedCursor
	if endCursor != "" && (endSeq > committedSeq || endSeq == 0) {
		c.cursor = endCursor
	}
	// Even a batch another replica had applied already (all skipped) moves the gauges.
	c.lag.applied(c.seq, newest)
	c.metrics.applied(ctx, handled, parked)
	c.committed(appliedKeys)
	return nil
}

// committed runs Config.Committed with the keys of a committed batch's applied events.
func (c *consumer) committed(keys []string) {
	if c.cfg.Committed != nil && len(keys) > 0 {
		c.cfg.Committed(keys)
	}
}

// queueBlockedKeys queues the read of blockedKeysSQL for keys onto q and returns the set
// that q's run fills with the keys that have parked events.
func (c *consumer) queueBlockedKeys(q *pgx.Batch, keys []string) map[string]bool {
	blocked := make(map[string]bool)
	if len(keys) == 0 {
		return blocked
	}
	q.Queue(blockedKeysSQL, c.cfg.Name, c.cfg.Source, keys).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			blocked[k] = true
		}
		return rows.Err()
	})
	return blocked
}

// applyEvent applies the event at index i of a batch in tx, the batch's transaction: it
// parks it when the whole batch is being parked (park), parks it behind its key's parked
// events (blocked), or runs the handler. partition is the event's partition in a
// consumer group, -1 outside one. It reports whether the event was parked.
func (c *consumer) applyEvent(ctx context.Context, tx *txn.Tx, i int, ev *eventsv1.Event, park *failure, blocked map[string]bool, partition int) (parked bool, err error) {
	switch {
	case park != nil:
		return true, c.insertParked(ctx, tx, ev, park.err.Error(), park.attempts)
	case ev.GetKey() != "" && blocked[ev.GetKey()]:
		attrs := []any{slog.Int64("seq", ev.GetSequence()), slog.String("type", ev.GetType()), slog.String("key", ev.GetKey())}
		if partition >= 0 {
			attrs = append(attrs, slog.Int("partition", partition))
		}
		c.log.Warn("event parked: "+waitingBehind, attrs...)
		return true, c.insertParked(ctx, tx, ev, "", 0)
	}
	if err := c.call(ctx, tx, ev); err != nil {
		return false, classify(ctx, i, err)
	}
	return false, nil
}

// call runs the handler for ev in tx with a span linked to the producer's, turning a
// panic into an error so that a poisonous event is parked rather than crashing the
// service.
func (c *consumer) call(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
	ctx, span := c.tracer.start(ctx, c.cfg.Source, ev, true)
	start := time.Now()
	err := safeCall(ctx, c.h, tx, ev)
	c.metrics.handlerDone(ctx, time.Since(start), err)
	endSpan(span, err)
	return err
}

// safeCall runs h, turning a panic into an error.
func safeCall(ctx context.Context, h Handler, tx *txn.Tx, ev *eventsv1.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, tx, ev)
}

// Errors of the database rather than of a handler: a lost race (the transaction runs
// again) and a database that cannot answer (the batch is tried again later).
var (
	errConflict    = &errs.Error{Kind: errs.Aborted, Reason: pgxutil.ReasonConflict}
	errUnavailable = &errs.Error{Kind: errs.Unavailable, Reason: pgxutil.ReasonDatabaseUnavailable}
)

// classify decides whether the handler's err for batch[index] counts against the event
// or is the database's or the context's fault, to be retried without counting.
func classify(ctx context.Context, index int, err error) error {
	switch mapped := pgxutil.MapError(err); {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(mapped, errUnavailable):
		return fmt.Errorf("handler: database unavailable: %w", err)
	case errors.Is(mapped, errConflict):
		return fmt.Errorf("handler: %w", err)
	}
	return &handlerError{index: index, err: err}
}

// insertParked parks ev in tx.
func (c *consumer) insertParked(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event, errText string, attempts int) error {
	r := rowFromEvent(ev)
	_, err := tx.Exec(ctx, parkSQL, c.cfg.Name, c.cfg.Source, r.seq, r.eventID, r.typ, r.key,
		r.payloadType, r.payload, r.traceContext, r.occurredAt, errText, attempts)
	if err != nil {
		return fmt.Errorf("park event: %w", err)
	}
	return nil
}
