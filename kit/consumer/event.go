package consumer

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

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

// parkedColumns lists the columns scan reads, in its order.
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

// proto converts the row for ListParkedEvents.
func (r *parkedRow) proto() *eventsv1.ParkedEvent {
	return &eventsv1.ParkedEvent{
		Id:       strconv.FormatInt(r.id, 10),
		Consumer: r.consumer,
		Source:   r.source,
		Event:    r.event(),
		Error:    r.errText,
		Attempts: r.attempts,
		ParkTime: timestamppb.New(r.parkedAt),
	}
}
