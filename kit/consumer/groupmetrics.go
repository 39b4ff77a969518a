package consumer

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

// Metric names of consumer groups, as OpenTelemetry instruments. Each partition's lag is
// reported by the member that owns it, so summing over members gives every owned
// partition once.
const (
	// MetricPartitionLagEvents is a gauge with attributes consumer, source and partition:
	// events of the partition received by its owner and not yet applied.
	MetricPartitionLagEvents = "waybill.consumer.partition.lag.events"
	// MetricPartitionLag is a gauge in seconds with attributes consumer, source and
	// partition: how long ago the oldest event of the partition waiting at its owner
	// occurred; 0 when none waits.
	MetricPartitionLag = "waybill.consumer.partition.lag"
	// MetricPartitionSeq is a gauge with attributes consumer, source and partition: the
	// sequence of the partition's last event applied (its committed cursor), as its owner
	// last committed it. Against the source's head it is the partition's lag in sequence
	// numbers.
	MetricPartitionSeq = "waybill.consumer.partition.seq"
	// MetricPartitionsOwned is a gauge with attributes consumer, source and member: how
	// many partitions the member owns. Summed over the members it is the group's
	// partition count, except while partitions move.
	MetricPartitionsOwned = "waybill.consumer.partitions.owned"
)

// partLag is one partition's lag at its owner.
type partLag struct {
	head     int64     // highest sequence of the partition received
	done     int64     // highest sequence of the partition committed
	pending  int64     // events received and not yet applied
	waiting  time.Time // occurred time of the oldest of them
	hasValue bool
}

// partLags is the lag of each partition the member owns, for the partition gauges.
type partLags struct {
	n  int // the group's partition count
	mu sync.Mutex
	m  map[int]*partLag
}

// reset starts the session's partitions at their committed sequences.
func (l *partLags) reset(seqs map[int]int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m = make(map[int]*partLag, len(seqs))
	for p, s := range seqs {
		l.m[p] = &partLag{head: s, done: s}
	}
}

// received notes an event read from the stream.
func (l *partLags) received(ev *eventsv1.Event) {
	if l == nil {
		return
	}
	p := PartitionOf(ev.GetKey(), l.n)
	l.mu.Lock()
	defer l.mu.Unlock()
	pl := l.m[p]
	if pl == nil || ev.GetSequence() <= pl.head || ev.GetSequence() <= pl.done {
		return
	}
	if pl.pending == 0 && ev.GetOccurredTime() != nil {
		pl.waiting, pl.hasValue = ev.GetOccurredTime().AsTime(), true
	}
	pl.pending++
	pl.head = ev.GetSequence()
}

// applied notes a committed batch: applied counts its events applied or parked per
// partition, committed holds each partition's sequence before it, and parts each
// message's partition.
func (l *partLags) applied(applied map[int]int, committed map[int]int64, endSeq int64, batch []*eventsv1.SubscribeResponse, parts []int) {
	if l == nil {
		return
	}
	last := map[int]*eventsv1.Event{}
	for i, m := range batch {
		if parts[i] >= 0 {
			last[parts[i]] = m.GetEvent()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, pl := range l.m {
		pl.done = max(pl.done, committed[p], endSeq)
		pl.pending = max(pl.pending-int64(applied[p]), 0)
		if pl.done >= pl.head {
			pl.pending = 0
		}
		switch {
		case pl.pending == 0:
			pl.hasValue = false
		case last[p].GetOccurredTime() != nil:
			pl.waiting, pl.hasValue = last[p].GetOccurredTime().AsTime(), true
		}
	}
}

// partObservation is one partition's gauges.
type partObservation struct {
	partition int
	events    int64
	age       time.Duration
	seq       int64
}

// observe returns the gauges of the member's partitions at now.
func (l *partLags) observe(now time.Time) []partObservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]partObservation, 0, len(l.m))
	for p, pl := range l.m {
		o := partObservation{partition: p, events: pl.pending, seq: pl.done}
		if pl.pending > 0 && pl.hasValue {
			o.age = max(now.Sub(pl.waiting), 0)
		}
		out = append(out, o)
	}
	return out
}

// newGroupMetrics registers the partition gauges of a member; unregister them when Run
// ends.
func newGroupMetrics(cfg Config, lags *partLags, g *group) (metric.Registration, error) {
	m := cfg.Meter
	lagEvents, err := m.Int64ObservableGauge(MetricPartitionLagEvents, metric.WithUnit("{event}"),
		metric.WithDescription("Events of the partition received by its owner and not yet applied."))
	if err != nil {
		return nil, err
	}
	lagSeconds, err := m.Float64ObservableGauge(MetricPartitionLag, metric.WithUnit("s"),
		metric.WithDescription("Age of the partition's oldest event waiting at its owner; 0 when none waits."))
	if err != nil {
		return nil, err
	}
	seq, err := m.Int64ObservableGauge(MetricPartitionSeq, metric.WithUnit("{event}"),
		metric.WithDescription("Sequence of the partition's last event applied."))
	if err != nil {
		return nil, err
	}
	owned, err := m.Int64ObservableGauge(MetricPartitionsOwned, metric.WithUnit("{partition}"),
		metric.WithDescription("Partitions the consumer group member owns."))
	if err != nil {
		return nil, err
	}
	base := []attribute.KeyValue{attribute.String("consumer", cfg.Name), attribute.String("source", cfg.Source)}
	memberAttrs := metric.WithAttributeSet(attribute.NewSet(append(base, attribute.String("member", cfg.Group.Member))...))
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		own := g.snapshot()
		o.ObserveInt64(owned, int64(len(own.parts)), memberAttrs)
		for _, p := range lags.observe(time.Now()) {
			if !own.owns(p.partition) {
				continue // released since the session started: its new owner reports it
			}
			attrs := metric.WithAttributeSet(attribute.NewSet(append(base, attribute.Int("partition", p.partition))...))
			o.ObserveInt64(lagEvents, p.events, attrs)
			o.ObserveFloat64(lagSeconds, p.age.Seconds(), attrs)
			o.ObserveInt64(seq, p.seq, attrs)
		}
		return nil
	}, lagEvents, lagSeconds, seq, owned)
}
