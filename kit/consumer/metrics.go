package consumer

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

// Metric names, as OpenTelemetry instruments; every one carries the attributes consumer
// and source.
const (
	// MetricLagEvents is a gauge: events received from the source but not yet applied.
	MetricLagEvents = "waybill.consumer.lag.events"
	// MetricLag is a gauge in seconds: how long ago the oldest event received but not
	// yet applied occurred; 0 when nothing is waiting.
	MetricLag = "waybill.consumer.lag"
	// MetricParked is a gauge: the events parked for the consumer, read from its table.
	MetricParked = "waybill.consumer.parked"
	// MetricHandlerDuration is a histogram in seconds of handler calls, with attribute
	// outcome ("ok" or "error").
	MetricHandlerDuration = "waybill.consumer.handler.duration"
	// MetricEvents counts events by outcome: "applied" (the handler's effect
	// committed) or "parked".
	MetricEvents = "waybill.consumer.events"
	// MetricStreamEnds counts subscriptions that ended, with attribute code (the gRPC
	// status code, OUT_OF_RANGE among them).
	MetricStreamEnds = "waybill.consumer.stream.ends"
)

// parkedCountSQL counts a consumer's parked events for the parked gauge.
const parkedCountSQL = `SELECT count(*) FROM parked_events WHERE consumer = $1 AND source = $2`

// metrics holds one Run's instruments.
type metrics struct {
	attrs           attribute.Set
	handlerDuration metric.Float64Histogram
	events          metric.Int64Counter
	streamEnds      metric.Int64Counter
	registration    metric.Registration

	okAttrs, errAttrs, appliedAttrs, parkedAttrs metric.MeasurementOption
}

func newMetrics(cfg Config, lag *lagState) (*metrics, error) {
	m := cfg.Meter
	ms := &metrics{attrs: attribute.NewSet(attribute.String("consumer", cfg.Name), attribute.String("source", cfg.Source))}
	with := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(ms.attrs.ToSlice(), kv...)...))
	}
	ms.okAttrs = with(attribute.String("outcome", "ok"))
	ms.errAttrs = with(attribute.String("outcome", "error"))
	ms.appliedAttrs = with(attribute.String("outcome", "applied"))
	ms.parkedAttrs = with(attribute.String("outcome", "parked"))

	var err error
	if ms.handlerDuration, err = m.Float64Histogram(MetricHandlerDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of event handler calls."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)); err != nil {
		return nil, err
	}
	if ms.events, err = m.Int64Counter(MetricEvents, metric.WithUnit("{event}"),
		metric.WithDescription("Events the consumer applied or parked.")); err != nil {
		return nil, err
	}
	if ms.streamEnds, err = m.Int64Counter(MetricStreamEnds, metric.WithUnit("{stream}"),
		metric.WithDescription("Subscriptions to the source that ended, by gRPC status code.")); err != nil {
		return nil, err
	}
	lagEvents, err := m.Int64ObservableGauge(MetricLagEvents, metric.WithUnit("{event}"),
		metric.WithDescription("Events received from the source and not yet applied."))
	if err != nil {
		return nil, err
	}
	lagSeconds, err := m.Float64ObservableGauge(MetricLag, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event received and not yet applied; 0 when none waits."))
	if err != nil {
		return nil, err
	}
	parked, err := m.Int64ObservableGauge(MetricParked, metric.WithUnit("{event}"),
		metric.WithDescription("Events in the consumer's dead-letter table."))
	if err != nil {
		return nil, err
	}
	attrs := metric.WithAttributeSet(ms.attrs)
	ms.registration, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		events, age := lag.observe(time.Now())
		o.ObserveInt64(lagEvents, events, attrs)
		o.ObserveFloat64(lagSeconds, age.Seconds(), attrs)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var n int64
		if err := cfg.Pool.QueryRow(ctx, parkedCountSQL, cfg.Name, cfg.Source).Scan(&n); err != nil {
			return err
		}
		o.ObserveInt64(parked, n, attrs)
		return nil
	}, lagEvents, lagSeconds, parked)
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// close stops observing the gauges.
func (m *metrics) close() { _ = m.registration.Unregister() }

func (m *metrics) handlerDone(ctx context.Context, d time.Duration, err error) {
	if err != nil {
		m.handlerDuration.Record(ctx, d.Seconds(), m.errAttrs)
		return
	}
	m.handlerDuration.Record(ctx, d.Seconds(), m.okAttrs)
}

func (m *metrics) applied(ctx context.Context, applied, parked int) {
	if applied > 0 {
		m.events.Add(ctx, int64(applied), m.appliedAttrs)
	}
	if parked > 0 {
		m.events.Add(ctx, int64(parked), m.parkedAttrs)
	}
}

func (m *metrics) streamError(ctx context.Context, code codes.Code) {
	m.streamEnds.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(append(m.attrs.ToSlice(),
		attribute.String("code", code.String()))...)))
}

// lagState is what the lag gauges observe: the highest sequence received, the highest
// applied, and when the oldest event waiting occurred.
type lagState struct {
	mu       sync.Mutex
	head     int64     // highest sequence received
	done     int64     // highest sequence applied (or parked)
	waiting  time.Time // occurred time of the oldest event received and not applied
	hasValue bool      // waiting is set
}

// reset starts from the committed sequence, after (re)subscribing.
func (l *lagState) reset(seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head, l.done, l.hasValue = seq, seq, false
}

// received notes an event read from the stream.
func (l *lagState) received(ev *eventsv1.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.GetSequence() <= l.head {
		return
	}
	if l.head <= l.done && ev.GetOccurredTime() != nil {
		// Nothing was waiting: this is now the oldest event waiting.
		l.waiting, l.hasValue = ev.GetOccurredTime().AsTime(), true
	}
	l.head = ev.GetSequence()
}

// applied notes events up to seq committed, last being the newest of them.
func (l *lagState) applied(seq int64, last *eventsv1.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = max(l.done, seq)
	if l.done >= l.head {
		l.hasValue = false
		return
	}
	// The next event waiting occurred after last; last's time is a close upper bound
	// of its age.
	if last.GetOccurredTime() != nil {
		l.waiting, l.hasValue = last.GetOccurredTime().AsTime(), true
	}
}

// observe returns the lag in events and in time at now.
func (l *lagState) observe(now time.Time) (int64, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	events := max(l.head-l.done, 0)
	if events == 0 || !l.hasValue {
		return events, 0
	}
	return events, max(now.Sub(l.waiting), 0)
}
