package consumer_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/txn"
)

// Run with, for example:
//
//	go test -run '^$' -bench 'ConsumerLag|BacklogDrain' -benchtime 1x -count 3 ./kit/consumer/
//
// Each iteration is one fixed-length scenario through the real stack (outbox, sequencer,
// reader, Subscribe over loopback gRPC, consumer) in one PostgreSQL database, so
// -benchtime 1x runs each scenario once per count.

const (
	benchRate    = 1000 // events per second the producer commits (open loop)
	benchKeys    = 50
	benchWriters = 16
)

// producer commits events at a fixed rate (open loop: a slow commit does not delay the
// next one's start), counting what it has committed.
type producer struct {
	s         *stack
	committed atomic.Int64
	late      atomic.Int64 // events that could not start on time: every writer was busy
}

// run commits rate events per second for d, or until ctx ends, and waits for the last
// commits.
func (p *producer) run(ctx context.Context, tb testing.TB, rate int, d time.Duration) {
	work := make(chan struct{}, benchWriters)
	var wg sync.WaitGroup
	for range benchWriters {
		wg.Go(func() {
			for range work {
				if _, err := p.s.produce(ctx, "k"+strconv.Itoa(rand.IntN(benchKeys)), false); err != nil {
					if ctx.Err() == nil {
						tb.Errorf("produce: %v", err)
					}
					continue
				}
				p.committed.Add(1)
			}
		})
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; time.Duration(i)*interval < d && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case work <- struct{}{}:
		default:
			p.late.Add(1)
			work <- struct{}{}
		}
	}
	close(work)
	wg.Wait()
}

// recvHook calls f with every message a client stream receives.
type recvHook struct {
	grpc.ClientStream
	f func(m any)
}

// RecvMsg receives a message and passes it to f.
func (r recvHook) RecvMsg(m any) error {
	err := r.ClientStream.RecvMsg(m)
	if err == nil {
		r.f(m)
	}
	return err
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted.
func percentile[T any](sorted []T, p float64) T {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkConsumerLag measures consumer lag at a steady 1,000 events/s (target S2: p99
// ≤ 50 ms and ≤ 50 events): for every event, when its handler runs, how long ago it
// occurred (the producer's insert) and how many events committed after it were not yet
// applied. delivered-* is the part of the lag before the event reached the consumer's
// process.
func BenchmarkConsumerLag(b *testing.B) {
	for range b.N {
		s := newStack(b)
		p := &producer{s: s}
		const warmup, measure = time.Second, 5 * time.Second
		total := int((warmup + measure).Seconds() * benchRate)

		var mu sync.Mutex
		lagMs := make([]float64, 0, total)
		lagEvents := make([]int64, 0, total)
		deliveredMs := make([]float64, 0, total)
		// Events after measureFrom, those committed while measuring, are measured.
		var measureFrom atomic.Int64
		measureFrom.Store(1 << 62)
		measuring := func(ev *eventsv1.Event) bool { return ev.GetSequence() > measureFrom.Load() }
		// The time from the producer to the consumer's process (its gRPC client), to
		// tell the consumer's share of the lag from the source's.
		cl := client(b, s.addr, stackAuth, grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			return recvHook{cs, func(m any) {
				if ev := m.(*eventsv1.SubscribeResponse).GetEvent(); ev != nil && measuring(ev) {
					age := time.Since(ev.GetOccurredTime().AsTime())
					mu.Lock()
					deliveredMs = append(deliveredMs, float64(age.Microseconds())/1000)
					mu.Unlock()
				}
			}}, err
		}))
		name := "lag"
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- consumer.Run(ctx, consumer.Config{Name: name, Source: producerSchema, Client: cl, Pool: s.consumer},
				func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
					if measuring(ev) {
						age := time.Since(ev.GetOccurredTime().AsTime())
						behind := p.committed.Load() - ev.GetSequence()
						mu.Lock()
						lagMs = append(lagMs, float64(age.Microseconds())/1000)
						lagEvents = append(lagEvents, max(behind, 0))
						mu.Unlock()
					}
					return recordEffect(ctx, tx, name, ev)
				})
		}()

		b.ResetTimer()
		p.run(context.Background(), b, benchRate, warmup)
		measureFrom.Store(p.committed.Load())
		p.run(context.Background(), b, benchRate, measure)
		n := p.committed.Load()
		grpctest.Eventually(b, 30*time.Second, "the consumer caught up", func() bool { return cursorSeq(b, s.consumer, name, producerSchema) == n })
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}

		mu.Lock()
		slices.Sort(lagMs)
		slices.Sort(lagEvents)
		slices.Sort(deliveredMs)
		b.ReportMetric(percentile(deliveredMs, 50), "delivered-p50-ms")
		b.ReportMetric(percentile(deliveredMs, 99), "delivered-p99-ms")
		b.ReportMetric(percentile(lagMs, 50), "lag-p50-ms")
		b.ReportMetric(percentile(lagMs, 95), "lag-p95-ms")
		b.ReportMetric(percentile(lagMs, 99), "lag-p99-ms")
		b.ReportMetric(float64(percentile(lagEvents, 99)), "lag-p99-events")
		b.ReportMetric(float64(lagEvents[len(lagEvents)-1]), "lag-max-events")
		b.ReportMetric(float64(len(lagMs)), "events")
		b.ReportMetric(float64(p.late.Load()), "late-starts")
		mu.Unlock()
	}
}

// BenchmarkBacklogDrain measures how fast a consumer works off the backlog that built up
// while it was down, against the production rate (target S4: ≥ 10×). The producer
// commits 1,000 events/s throughout; the consumer runs for a warm-up, stops for 10 s,
// and restarts; the drain time is from its restart until its handler reaches the last
// event committed before the restart. With handler=insert each event's handler inserts
// a row (one round trip to the database, as a typical read-model update); with
// handler=none it does nothing, which shows what the source, the stream and the
// consumer's own transactions can carry.
func BenchmarkBacklogDrain(b *testing.B) {
	b.Run("handler=insert", func(b *testing.B) { benchmarkBacklogDrain(b, true) })
	b.Run("handler=none", func(b *testing.B) { benchmarkBacklogDrain(b, false) })
}

func benchmarkBacklogDrain(b *testing.B, write bool) {
	for range b.N {
		s := newStack(b)
		p := &producer{s: s}
		name := "drain"
		var target atomic.Int64
		reached := make(chan time.Time, 1)
		h := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
			if t := target.Load(); t > 0 && ev.GetSequence() >= t {
				select {
				case reached <- time.Now():
				default:
				}
			}
			if !write {
				return nil
			}
			return recordEffect(ctx, tx, name, ev)
		}
		cfg := consumer.Config{Name: name, Source: producerSchema, Client: s.client, Pool: s.consumer}
		start := func() (stop func()) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- consumer.Run(ctx, cfg, h) }()
			return func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}
		}

		prodCtx, stopProducing := context.WithCancel(context.Background())
		producing := make(chan struct{})
		go func() {
			defer close(producing)
			p.run(prodCtx, b, benchRate, time.Hour)
		}()
		stop := start()
		time.Sleep(time.Second) // warm-up
		stop()
		const outage = 10 * time.Second
		applied := cursorSeq(b, s.consumer, name, producerSchema)
		outageStart := time.Now()
		committedBefore := p.committed.Load()
		time.Sleep(outage)

		b.ResetTimer()
		backlogHead := p.committed.Load()
		produced := float64(backlogHead-committedBefore) / time.Since(outageStart).Seconds()
		target.Store(backlogHead)
		restart := time.Now()
		stop = start()
		var drained time.Duration
		select {
		case at := <-reached:
			drained = at.Sub(restart)
		case <-time.After(60 * time.Second):
			b.Fatal("the backlog did not drain within 60 s")
		}
		b.StopTimer()
		stop()
		stopProducing()
		<-producing

		backlog := backlogHead - applied
		drainRate := float64(backlog) / drained.Seconds()
		b.ReportMetric(float64(backlog), "backlog-events")
		b.ReportMetric(drained.Seconds()*1000, "drain-ms")
		b.ReportMetric(drainRate, "drain-events/s")
		b.ReportMetric(produced, "produced-events/s")
		b.ReportMetric(drainRate/produced, "drain/production")
	}
}
