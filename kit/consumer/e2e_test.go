package consumer_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/txn"
)

// The whole backbone: concurrent writers commit (and roll back) events through the
// outbox while a consumer, restarted once midway, consumes them through the sequencer,
// the reader and Subscribe. Every committed event is applied exactly once, in commit
// order per key; rolled-back ones never; each handler span links to its producer's.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n, writers, keys = 1000, 8, 10
	name := "e2e"
	spans := tracetest.NewSpanRecorder()
	cfg := consumer.Config{
		Name: name, Source: producerSchema, Client: s.client, Pool: s.consumer, Logger: testLogger(t),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
	}
	var bad atomic.Value
	h := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if ev.GetSource() != producerSchema || ev.GetType() != itemChanged || ev.GetOccurredTime() == nil {
			bad.Store(ev)
		}
		return recordEffect(ctx, tx, name, ev)
	}
	stop := runConsumer(t, cfg, h)

	var committed, rolledBack atomic.Int64
	producerTraces := sync.Map{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for committed.Load() < n {
				// Each event's producing request has a trace of its own.
				sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: randomTraceID(), SpanID: trace.SpanID{byte(w + 1)}, TraceFlags: trace.FlagsSampled})
				ctx := trace.ContextWithSpanContext(context.Background(), sc)
				rollback := rand.IntN(10) == 0
				if !rollback && committed.Add(1) > n {
					return
				}
				_, err := s.produce(ctx, "k"+strconv.Itoa(rand.IntN(keys)), rollback)
				switch {
				case rollback && errors.Is(err, errRollback):
					rolledBack.Add(1)
				case err != nil:
					t.Errorf("produce: %v", err)
					return
				default:
					producerTraces.Store(sc.TraceID(), true)
				}
			}
		})
	}
	// Restart the consumer midway: it resumes from its stored (opaque) cursor.
	grpctest.Eventually(t, 30*time.Second, "a third applied", func() bool { return cursorSeq(t, s.consumer, name, producerSchema) >= n/3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	runConsumer(t, cfg, h)
	wg.Wait()

	grpctest.Eventually(t, 30*time.Second, "every event applied", func() bool { return cursorSeq(t, s.consumer, name, producerSchema) == n })
	checkExactlyOnce(t, s.consumer, name, n)
	checkKeyOrder(t, s.consumer, name)
	if ev := bad.Load(); ev != nil {
		t.Errorf("event without source, type or time: %v", ev)
	}
	if rolledBack.Load() == 0 {
		t.Error("no transaction rolled back; the test proves less than it claims")
	}
	for _, sp := range spans.Ended() {
		if l := sp.Links(); len(l) != 1 {
			t.Fatalf("handler span with links %v, want the producer's", l)
		} else if _, ok := producerTraces.Load(l[0].SpanContext.TraceID()); !ok {
			t.Fatalf("handler span links trace %v, which no producer started", l[0].SpanContext.TraceID())
		}
	}
	t.Logf("%d committed, %d rolled back, %d handler spans", n, rolledBack.Load(), len(spans.Ended()))
}

func randomTraceID() trace.TraceID {
	var id trace.TraceID
	for i := range id {
		id[i] = byte(rand.IntN(256))
	}
	return id
}
