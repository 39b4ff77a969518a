package consumer

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

// tracer starts the spans of handler calls.
type tracer struct {
	t trace.Tracer
}

func newTracer(tp trace.TracerProvider) *tracer {
	return &tracer{t: tp.Tracer(instrumentation)}
}

// start starts the span of one handler call for ev, linked to the producer's span
// that ev.TraceContext names (W3C traceparent and tracestate). A consumed event starts a
// trace of its own (newRoot); a replayed one is a child of the admin call replaying it.
func (t *tracer) start(ctx context.Context, source string, ev *eventsv1.Event, newRoot bool) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "waybill"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", source),
			attribute.String("messaging.message.id", ev.GetId()),
			attribute.String("waybill.event.type", ev.GetType()),
			attribute.String("waybill.event.key", ev.GetKey()),
			attribute.Int64("waybill.event.sequence", ev.GetSequence()),
		),
	}
	if newRoot {
		opts = append(opts, trace.WithNewRoot())
	}
	if tc := ev.GetTraceContext(); len(tc) > 0 {
		producer := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(tc))
		if sc := trace.SpanContextFromContext(producer); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	return t.t.Start(ctx, "process "+ev.GetType(), opts...)
}

// endSpan ends span, recording err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
