package outbox

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the outbox, event_log and event_log_head tables as *.sql files named
// 0100_outbox.sql and up, for pgxutil.Migrate on the emitting service's own schema.
var Migrations fs.FS = pgxutil.Dir(migrationFiles, "migrations")

// Event is one event to emit.
type Event struct {
	// Type is the dotted event type, "<service>.<aggregate>.<verb>", for example
	// "booking.reservation.confirmed". Required.
	Type string
	// Key identifies the aggregate the event is about (for example a reservation id);
	// events with the same key are delivered in commit order.
	Key string
	// Payload is the new state of the aggregate. It is stored as the value of a
	// google.protobuf.Any (an *anypb.Any is stored as it is); nil stores no payload.
	Payload proto.Message
}

// Channel is the PostgreSQL notification channel on which the sequencer of schema
// announces each batch it appended to the log (the payload is the new last seq).
func Channel(schema string) string { return schema + ".event_log" }

// Emit writes events to the outbox in tx, the caller's transaction, so that they are
// committed, or rolled back, with the change that causes them. The events are sequenced
// in the order given. tx's search_path must resolve "outbox" to the service's schema
// (pgxutil.PoolConfig.Schema does so). After the commit, call Log.Notify to wake the
// sequencer at once; otherwise it finds the events at its next poll.
//
// Events of one key are delivered in commit order only if transactions that emit events
// for the same key are serialized before they call Emit: update, or SELECT … FOR UPDATE,
// the aggregate's row first. Then a later transaction of the key inserts its outbox row
// after the earlier one committed, with a higher id, and the sequencer moves rows in id
// order among those committed. Two transactions that emit for one key without such a
// lock commit in an order the log cannot know.
//
// The W3C trace context (traceparent, tracestate) of ctx's span is stored with the
// events, so consumers' spans can link to the producer's.
func Emit(ctx context.Context, tx pgx.Tx, events ...Event) error {
	args, err := emitArgs(ctx, events)
	if err != nil || args == nil {
		return err
	}
	if _, err := tx.Exec(ctx, emitSQL, args...); err != nil {
		return fmt.Errorf("emit events: %w", err)
	}
	return nil
}

// emitSQL inserts the rows of the arrays into the outbox that the search_path resolves,
// in their order, so ids follow it.
const emitSQL = `INSERT INTO outbox (type, key, payload_type, payload, trace_context)
SELECT u.type, u.key, nullif(u.payload_type, ''), u.payload, $5::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY AS u(type, key, payload_type, payload, n)
ORDER BY u.n`

// Queue queues the statement that writes events to the outbox onto b, for code that
// sends its transaction's statements as pipelined batches: the events then cost no round
// trip of their own (for example, queued in front of the batch's COMMIT). It is Emit for
// a batch: the same statement, encoding and trace context, and the same per-key ordering
// precondition (the aggregate's row is locked or updated before b runs). b must run in
// the transaction of the change; the statement's outcome is b's result at the position
// Queue added (read it with BatchResults.Exec, or let BatchResults.Close report an
// error). Without events Queue adds nothing.
func Queue(ctx context.Context, b *pgx.Batch, events ...Event) error {
	args, err := emitArgs(ctx, events)
	if err != nil || args == nil {
		return err
	}
	b.Queue(emitSQL, args...)
	return nil
}

// emitArgs encodes events as emitSQL's arguments; nil when there are none.
func emitArgs(ctx context.Context, events []Event) ([]any, error) {
	if len(events) == 0 {
		return nil, nil
	}
	types := make([]string, len(events))
	keys := make([]string, len(events))
	payloadTypes := make([]string, len(events))
	payloads := make([][]byte, len(events))
	for i, ev := range events {
		if ev.Type == "" {
			return nil, errors.New("emit event: empty type")
		}
		types[i], keys[i] = ev.Type, ev.Key
		if ev.Payload == nil {
			continue
		}
		a, ok := ev.Payload.(*anypb.Any)
		if !ok {
			var err error
			if a, err = anypb.New(ev.Payload); err != nil {
				return nil, fmt.Errorf("emit event %s: marshal payload: %w", ev.Type, err)
			}
		}
		payloadTypes[i], payloads[i] = a.GetTypeUrl(), a.GetValue()
		if payloads[i] == nil {
			payloads[i] = []byte{} // an empty message, not a missing payload
		}
	}
	var traceContext any // NULL without a span
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if len(carrier) > 0 {
		traceContext = map[string]string(carrier)
	}
	return []any{types, keys, payloadTypes, payloads, traceContext}, nil
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
