package eventstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/outbox"
)

// record is one event of the log, read once and shared, read-only, by every subscriber
// it is sent to.
type record struct {
	seq      int64
	id       string
	typ      string
	key      string
	occurred *timestamppb.Timestamp
	trace    map[string]string
	payload  *anypb.Any
}

// event builds the message for one subscriber. Sub-messages are shared between
// subscribers: gRPC only reads them.
func (r *record) event(source string, keysOnly bool) *eventsv1.Event {
	ev := &eventsv1.Event{
		Id:           r.id,
		Type:         r.typ,
		Key:          r.key,
		Sequence:     r.seq,
		OccurredTime: r.occurred,
		TraceContext: r.trace,
		Source:       source,
	}
	if !keysOnly {
		ev.Payload = r.payload
	}
	return ev
}

// recordOf converts an event the sequencer handed over.
func recordOf(e *outbox.Logged) *record {
	r := &record{
		seq:      e.Seq,
		id:       e.EventID,
		typ:      e.Type,
		key:      e.Key,
		occurred: timestamppb.New(e.OccurredAt),
		trace:    e.TraceContext,
	}
	if e.PayloadType != "" {
		r.payload = &anypb.Any{TypeUrl: e.PayloadType, Value: e.Payload}
	}
	return r
}

// logTables holds the schema's qualified statements.
type logTables struct {
	pageSQL string
	headSQL string
}

func newLogTables(schema string) logTables {
	t := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	return logTables{
		pageSQL: `SELECT seq, event_id::text, type, key, payload_type, payload, trace_context, occurred_at FROM ` +
			t("event_log") + ` WHERE seq > $1 ORDER BY seq LIMIT $2`,
		headSQL: `SELECT last_seq, pruned_through FROM ` + t("event_log_head"),
	}
}

// page reads up to limit events after seq, in order.
func (lt logTables) page(ctx context.Context, pool *pgxpool.Pool, after int64, limit int) ([]*record, error) {
	rows, err := pool.Query(ctx, lt.pageSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read event log: %w", err)
	}
	defer rows.Close()
	recs := make([]*record, 0, min(limit, 64))
	for rows.Next() {
		var (
			r           record
			payloadType *string
			payload     []byte
			trace       []byte
			occurred    time.Time
		)
		if err := rows.Scan(&r.seq, &r.id, &r.typ, &r.key, &payloadType, &payload, &trace, &occurred); err != nil {
			return nil, fmt.Errorf("read event log: %w", err)
		}
		r.occurred = timestamppb.New(occurred)
		if payloadType != nil {
			r.payload = &anypb.Any{TypeUrl: *payloadType, Value: payload}
		}
		if len(trace) > 0 {
			if err := json.Unmarshal(trace, &r.trace); err != nil {
				return nil, fmt.Errorf("read event log: event %d: trace context: %w", r.seq, err)
			}
		}
		recs = append(recs, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read event log: %w", err)
	}
	return recs, nil
}

// head returns the highest assigned sequence number and the retention floor.
func (lt logTables) head(ctx context.Context, pool *pgxpool.Pool) (last, prunedThrough int64, err error) {
	if err := pool.QueryRow(ctx, lt.headSQL).Scan(&last, &prunedThrough); err != nil {
		return 0, 0, fmt.Errorf("read event log head: %w", err)
	}
	return last, prunedThrough, nil
}
