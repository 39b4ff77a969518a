package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// ReasonNoHandler is the reason of Replay's FailedPrecondition error for a parked event
// of a consumer that the Parking has no handler for.
const ReasonNoHandler = "NO_HANDLER"

// Parked is an event in a consuming service's dead-letter table (parked_events).
type Parked struct {
	// ID identifies the parked event in the table.
	ID int64
	// Consumer is the consumer that parked it (Config.Name).
	Consumer string
	// Source is the service that emitted it.
	Source string
	// Event is the event as it arrived, with its payload.
	Event *eventsv1.Event
	// Error is the handler's last error; empty for an event parked behind an earlier
	// parked event of its key, whose handler has not run.
	Error string
	// Attempts is how many times the handler was tried.
	Attempts int
	// ParkedAt is when the event was parked.
	ParkedAt time.Time
}

// Parking is a consuming service's dead-letter queue: the events its consumers parked
// in its parked_events table, which operators list, replay with the consumers' handlers
// (after fixing what made them fail) and discard. kit/consumeradmin serves it as the
// ConsumerAdminService.
type Parking struct {
	pool     *pgxpool.Pool
	tx       *txn.Runner
	handlers map[string]Handler
	tracer   *tracer
}

// ParkingOptions configures a Parking; the zero value is fine.
type ParkingOptions struct {
	// Notify runs after the commit of a replay whose handler emitted events
	// (txn.Options.Notify): pass the service's outbox.Log.Notify.
	Notify func()
	// TracerProvider creates the spans of replayed handler calls; nil uses the global
	// tracer provider.
	TracerProvider trace.TracerProvider
}

// NewParking returns the dead-letter queue in pool's parked_events table (pool's
// search_path must reach the tables of Migrations). handlers maps each consumer name (as
// in Config.Name) to the handler that Replay runs; parked events of consumers not in it
// can be listed and discarded but not replayed. It does no I/O.
func NewParking(pool *pgxpool.Pool, handlers map[string]Handler, opts ParkingOptions) *Parking {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Parking{pool: pool, tx: txn.New(pool, txn.Options{Notify: opts.Notify}), handlers: handlers, tracer: newTracer(tp)}
}

// Handles reports whether p has a handler for consumer, with which Replay replays its
// parked events.
func (p *Parking) Handles(consumer string) bool { return p.handlers[consumer] != nil }

const listParkedSQL = `SELECT ` + parkedColumns + ` FROM parked_events
WHERE ($1 = '' OR consumer = $1) AND id > $2 ORDER BY id LIMIT $3`

// List returns up to limit parked events with ids above afterID, oldest first: of
// consumer, or of every consumer when it is empty.
func (p *Parking) List(ctx context.Context, consumer string, afterID int64, limit int) ([]Parked, error) {
	rows, err := p.pool.Query(ctx, listParkedSQL, consumer, afterID, limit)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("list parked events: %w", err))
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Parked, error) {
		var r parkedRow
		if err := row.Scan(r.scanDest()...); err != nil {
			return Parked{}, err
		}
		return r.parked(), nil
	})
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("list parked events: %w", err))
	}
	return list, nil
}

// Replayed is the outcome of a Replay.
type Replayed struct {
	// Replayed counts the events applied and removed from the queue.
	Replayed int
	// Failed counts the events whose handler failed again; they stay parked with the
	// new error.
	Failed int
}

// Replay runs the consumers' handlers again for the parked events ids, or for all of
// them (of consumer, when given) when ids is empty, each in its own transaction (kit/txn)
// that also removes it from the queue. Each key's events run oldest first; when one
// fails, its new error is recorded and the later events of its key stay parked untouched
// (counted neither as replayed nor as failed). An event is never replayed while an older
// event of its key stays parked. A replay of all drains each key, including events that
// the running consumer parks behind it meanwhile, so the key flows live again afterwards;
// it skips consumers p has no handler for. Ids that are not parked (any more) are
// ignored.
//
// It fails with InvalidArgument (field "consumer") when consumer has no handler or is not
// the consumer of one of ids, and with FailedPrecondition (ReasonNoHandler) when one of
// ids belongs to a consumer without handler; then nothing is replayed.
func (p *Parking) Replay(ctx context.Context, consumer string, ids []int64) (Replayed, error) {
	if consumer != "" && !p.Handles(consumer) {
		return Replayed{}, errs.Invalid("consumer", "no consumer %q with a handler in this service", consumer)
	}
	if len(ids) == 0 {
		return p.replayAll(ctx, consumer)
	}
	targets, err := p.replayTargets(ctx, ids)
	if err != nil {
		return Replayed{}, err
	}
	for _, t := range targets {
		if consumer != "" && t.consumer != consumer {
			return Replayed{}, errs.Invalid("consumer", "parked event %d belongs to consumer %q", t.id, t.consumer)
		}
		if !p.Handles(t.consumer) {
			return Replayed{}, errs.Precondition(ReasonNoHandler,
				"parked event %d belongs to consumer %q, which has no handler in this service", t.id, t.consumer)
		}
	}
	var res Replayed
	var stopped replayGroup
	for _, t := range targets {
		if t.key != "" && t.replayGroup == stopped {
			continue
		}
		outcome, err := p.replayOne(ctx, t.id)
		if err != nil {
			return res, err
		}
		if res.tally(outcome) {
			stopped = t.replayGroup
		}
	}
	return res, nil
}

const (
	parkedGroupsSQL = `SELECT DISTINCT consumer, source, key FROM parked_events
WHERE $1 = '' OR consumer = $1 ORDER BY consumer, source, key`

	// nextOfGroupSQL returns a key's oldest parked event, or, for events without a key,
	// the next one after ($4, $5).
	nextOfGroupSQL = `SELECT id, seq FROM parked_events
WHERE consumer = $1 AND source = $2 AND key = $3 AND ($3 <> '' OR (seq, id) > ($4, $5))
ORDER BY seq, id LIMIT 1`
)

// replayAll replays every parked event of consumer (of every consumer with a handler
// when empty), key by key.
func (p *Parking) replayAll(ctx context.Context, consumer string) (Replayed, error) {
	var res Replayed
	rows, err := p.pool.Query(ctx, parkedGroupsSQL, consumer)
	if err != nil {
		return res, pgxutil.MapError(fmt.Errorf("read parked events: %w", err))
	}
	groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (replayGroup, error) {
		var g replayGroup
		err := row.Scan(&g.consumer, &g.source, &g.key)
		return g, err
	})
	if err != nil {
		return res, pgxutil.MapError(fmt.Errorf("read parked events: %w", err))
	}
	for _, g := range groups {
		if !p.Handles(g.consumer) {
			continue
		}
		// Events without a key wait for nothing: each is replayed once, whatever the
		// others do. A key's events are replayed oldest first until none is left or one
		// fails.
		var afterSeq, afterID int64
		for {
			var id, seq int64
			err := p.pool.QueryRow(ctx, nextOfGroupSQL, g.consumer, g.source, g.key, afterSeq, afterID).Scan(&id, &seq)
			if errors.Is(err, pgx.ErrNoRows) {
				break
			}
			if err != nil {
				return res, pgxutil.MapError(fmt.Errorf("read parked events: %w", err))
			}
			outcome, err := p.replayOne(ctx, id)
			if err != nil {
				return res, err
			}
			if res.tally(outcome) && g.key != "" {
				break
			}
			afterSeq, afterID = seq, id
		}
	}
	return res, nil
}

// tally adds outcome to r and reports whether it stops its key's replay.
func (r *Replayed) tally(outcome replayOutcome) (stop bool) {
	switch outcome {
	case replayed:
		r.Replayed++
	case replayFailed:
		r.Failed++
		return true
	case replayBlocked:
		return true
	}
	return false
}

const discardParkedSQL = `DELETE FROM parked_events WHERE id = ANY($1)`

// Discard removes the parked events ids without running their handlers, and returns how
// many it removed. Ids that are not parked (any more) are ignored.
func (p *Parking) Discard(ctx context.Context, ids []int64) (int, error) {
	tag, err := p.pool.Exec(ctx, discardParkedSQL, ids)
	if err != nil {
		return 0, pgxutil.MapError(fmt.Errorf("discard parked events: %w", err))
	}
	return int(tag.RowsAffected()), nil
}

// replayGroup is the consumer, source and key whose events are replayed in order.
type replayGroup struct {
	consumer, source, key string
}

// replayTarget is a parked event to replay.
type replayTarget struct {
	replayGroup
	id  int64
	seq int64
}

const replayTargetsSQL = `SELECT id, consumer, source, key, seq FROM parked_events WHERE id = ANY($1)`

// replayTargets returns the parked events among ids in replay order: grouped by
// consumer, source and key, oldest first within each.
func (p *Parking) replayTargets(ctx context.Context, ids []int64) ([]replayTarget, error) {
	rows, err := p.pool.Query(ctx, replayTargetsSQL, ids)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("read parked events: %w", err))
	}
	targets, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (replayTarget, error) {
		var t replayTarget
		err := row.Scan(&t.id, &t.consumer, &t.source, &t.key, &t.seq)
		return t, err
	})
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("read parked events: %w", err))
	}
	slices.SortFunc(targets, func(a, b replayTarget) int {
		return cmp.Or(cmp.Compare(a.consumer, b.consumer), cmp.Compare(a.source, b.source),
			cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq), cmp.Compare(a.id, b.id))
	})
	return targets, nil
}

// replayOutcome is what became of one parked event in a replay.
type replayOutcome int

const (
	replayed      replayOutcome = iota // applied and removed
	replayFailed                       // the handler failed again; the error is recorded
	replayBlocked                      // an older event of its key is still parked
	replayGone                         // no longer parked (replayed or discarded meanwhile)
)

const (
	// unparkSQL removes a parked event for its replay; the row lock makes concurrent
	// replays of the event apply it once.
	unparkSQL = `DELETE FROM parked_events WHERE id = $1 RETURNING ` + parkedColumns

	olderParkedSQL = `SELECT EXISTS (SELECT 1 FROM parked_events
WHERE consumer = $1 AND source = $2 AND key = $3 AND seq < $4)`

	recordReplayErrorSQL = `UPDATE parked_events SET error = $2, attempts = attempts + 1 WHERE id = $1`
)

// errBlocked rolls back the replay of an event that an older event of its key blocks.
var errBlocked = errors.New("an older event of the key is still parked")

// replayError rolls back the replay of an event whose handler failed again.
type replayError struct{ err error }

func (e *replayError) Error() string { return e.err.Error() }
func (e *replayError) Unwrap() error { return e.err }

// replayOne runs the handler for parked event id in a transaction that deletes it.
func (p *Parking) replayOne(ctx context.Context, id int64) (replayOutcome, error) {
	outcome := replayGone
	err := p.tx.Run(ctx, func(tx *txn.Tx) error {
		outcome = replayGone
		var r parkedRow
		err := tx.QueryRow(ctx, unparkSQL, id).Scan(r.scanDest()...)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay parked event %d: %w", id, err)
		}
		if r.key != "" {
			var older bool
			if err := tx.QueryRow(ctx, olderParkedSQL, r.consumer, r.source, r.key, r.seq).Scan(&older); err != nil {
				return fmt.Errorf("replay parked event %d: %w", id, err)
			}
			if older {
				return errBlocked
			}
		}
		ev := r.event()
		hctx, span := p.tracer.start(ctx, r.source, ev, false)
		herr := safeCall(hctx, p.handlers[r.consumer], tx, ev)
		endSpan(span, herr)
		if herr != nil {
			return &replayError{err: herr}
		}
		outcome = replayed
		return nil
	})
	var rerr *replayError
	switch {
	case err == nil:
		return outcome, nil
	case errors.Is(err, errBlocked):
		return replayBlocked, nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.As(err, &rerr):
		if _, err := p.pool.Exec(ctx, recordReplayErrorSQL, id, rerr.err.Error()); err != nil {
			return 0, pgxutil.MapError(fmt.Errorf("replay parked event %d: record error: %w", id, err))
		}
		return replayFailed, nil
	}
	return 0, err
}

// parkedRow is a row of parked_events.
type parkedRow struct {
	id           int64
	consumer     string
	source       string
	seq          int64
	eventID      string
	typ          string
	key          string
	payloadType  *string
	payload      []byte
	traceContext map[string]string
	occurredAt   *time.Time
	errText      string
	attempts     int32
	parkedAt     time.Time
}

// parkedColumns lists the columns scanDest reads, in its order.
const parkedColumns = `id, consumer, source, seq, event_id, type, key, payload_type, payload, trace_context, occurred_at, error, attempts, parked_at`

// scanDest returns the destinations of parkedColumns.
func (r *parkedRow) scanDest() []any {
	return []any{&r.id, &r.consumer, &r.source, &r.seq, &r.eventID, &r.typ, &r.key, &r.payloadType,
		&r.payload, &r.traceContext, &r.occurredAt, &r.errText, &r.attempts, &r.parkedAt}
}

// rowFromEvent holds the event columns of ev.
func rowFromEvent(ev *eventsv1.Event) parkedRow {
	r := parkedRow{
		source:       ev.GetSource(),
		seq:          ev.GetSequence(),
		eventID:      ev.GetId(),
		typ:          ev.GetType(),
		key:          ev.GetKey(),
		traceContext: ev.GetTraceContext(),
	}
	if p := ev.GetPayload(); p != nil {
		r.payloadType, r.payload = &p.TypeUrl, p.Value
	}
	if ev.GetOccurredTime() != nil {
		t := ev.GetOccurredTime().AsTime()
		r.occurredAt = &t
	}
	return r
}

// event rebuilds the parked event as it arrived.
func (r *parkedRow) event() *eventsv1.Event {
	ev := &eventsv1.Event{
		Id:           r.eventID,
		Type:         r.typ,
		Key:          r.key,
		Sequence:     r.seq,
		TraceContext: r.traceContext,
		Source:       r.source,
	}
	if r.payloadType != nil {
		ev.Payload = &anypb.Any{TypeUrl: *r.payloadType, Value: r.payload}
	}
	if r.occurredAt != nil {
		ev.OccurredTime = timestamppb.New(*r.occurredAt)
	}
	return ev
}

// parked returns the row as a Parked.
func (r *parkedRow) parked() Parked {
	return Parked{
		ID:       r.id,
		Consumer: r.consumer,
		Source:   r.source,
		Event:    r.event(),
		Error:    r.errText,
		Attempts: int(r.attempts),
		ParkedAt: r.parkedAt,
	}
}
