package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/txn"
)

// The backoff doubles from Initial up to Max; reconnections spread each delay by ±20%.
func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		b    consumer.Backoff
		want []time.Duration
	}{
		{consumer.DefaultRetry, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 1600 * ms}},
		{consumer.DefaultReconnect, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms}},
		{consumer.Backoff{Initial: 300, Max: 1000}, []time.Duration{300, 600, 1000, 1000}},
	} {
		if got := consumer.Delays(tc.b, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: delays %v, want %v", tc.b, got, tc.want)
		}
		for range 20 {
			for i, d := range consumer.SpreadDelays(tc.b, len(tc.want)) {
				if w := tc.want[i]; d < w-w/5 || d > w+w/5+1 {
					t.Fatalf("%+v: spread delay %d is %v, want within 20%% of %v", tc.b, i, d, w)
				}
			}
		}
	}
	if got := consumer.Delays(consumer.Backoff{Initial: time.Second, Max: time.Hour}, 1000)[999]; got != time.Hour {
		t.Errorf("delay 1000 = %v, want the cap (no overflow)", got)
	}
}

func TestRunRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	cl := client(t, "127.0.0.1:1")
	h := func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil }
	for name, cfg := range map[string]consumer.Config{
		"no name":   {Source: "s", Client: cl, Pool: pool},
		"no source": {Name: "c", Client: cl, Pool: pool},
		"no client": {Name: "c", Source: "s", Pool: pool},
		"no pool":   {Name: "c", Source: "s", Client: cl},
	} {
		if err := consumer.Run(t.Context(), cfg, h); err == nil {
			t.Errorf("%s: Run returned nil", name)
		}
	}
	if err := consumer.Run(t.Context(), consumer.Config{Name: "c", Source: "s", Client: cl, Pool: pool}, nil); err == nil {
		t.Error("nil handler: Run returned nil")
	}
}

// The source drops the stream many times mid-way and resends a few events before the
// cursor on each resubscription: every event's effect still happens exactly once, in
// order per key.
func TestExactlyOnceAcrossReconnects(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	src.dropAfter = func() int { return 1 + rand.IntN(150) }
	src.resend = 5
	srv := serveSource(t, src)
	const n = 1500
	src.addN(n/2, 7)

	name := "reconnects"
	runConsumer(t, consumer.Config{
		Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t),
		Reconnect: consumer.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		return recordEffect(ctx, tx, name, ev)
	})
	// Half the events arrive while the consumer runs.
	for range 10 {
		time.Sleep(20 * time.Millisecond)
		src.addN(n/20, 7)
	}
	grpctest.Eventually(t, 60*time.Second, "all events applied", func() bool { return cursorSeq(t, pool, name, "trip") == n })
	if d := src.drops.Load(); d < 5 {
		t.Fatalf("the source dropped the stream %d times, want at least 5", d)
	}
	checkExactlyOnce(t, pool, name, n)
	t.Logf("%d events, %d subscriptions, %d dropped", n, src.subscribes.Load(), src.drops.Load())
}

// Two replicas of one consumer receive every event; each is applied once.
func TestReplicasApplyEachEventOnce(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const n = 1000
	name := "replicated"
	h := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		return recordEffect(ctx, tx, name, ev)
	}
	for range 2 {
		runConsumer(t, consumer.Config{Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t)}, h)
	}
	for range 10 {
		src.addN(n/10, 5)
		time.Sleep(10 * time.Millisecond)
	}
	grpctest.Eventually(t, 30*time.Second, "all events applied", func() bool { return cursorSeq(t, pool, name, "trip") == n })
	checkExactlyOnce(t, pool, name, n)
}

// With the source down, the consumer keeps trying, with backoff, and catches up once the
// source is back.
func TestSourceDown(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	var subscribeCalls atomic.Int64
	countSubscribes := grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		subscribeCalls.Add(1)
		return streamer(ctx, desc, cc, method, opts...)
	})
	name := "patient"
	stop := runConsumer(t, consumer.Config{
		Name: name, Source: "trip", Client: client(t, srv.addr, countSubscribes), Pool: pool, Logger: testLogger(t),
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		return recordEffect(ctx, tx, name, ev)
	})

	src.addN(100, 3)
	grpctest.Eventually(t, 10*time.Second, "first events applied", func() bool { return cursorSeq(t, pool, name, "trip") == 100 })

	srv.stop()
	before := subscribeCalls.Load()
	src.addN(100, 3)
	const down = 3 * time.Second
	time.Sleep(down)
	tries := subscribeCalls.Load() - before
	// Backoff from 100 ms doubling: about 5 tries in 3 s (with jitter), not a hot loop.
	if tries < 3 || tries > 12 {
		t.Errorf("%d subscribe attempts while the source was down for %v, want 3..12 (backoff)", tries, down)
	}
	if got := cursorSeq(t, pool, name, "trip"); got != 100 {
		t.Fatalf("cursor moved to %d while the source was down", got)
	}

	srv.start(t)
	grpctest.Eventually(t, 15*time.Second, "events applied after the source came back", func() bool {
		return cursorSeq(t, pool, name, "trip") == 200
	})
	checkExactlyOnce(t, pool, name, 200)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A stream that stays silent (no events, no heartbeats) is abandoned after the stall
// timeout and the consumer subscribes again.
func TestSilentStreamIsAbandoned(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	src.silent.Store(true)
	srv := serveSource(t, src)
	runConsumer(t, consumer.Config{
		Name: "c", Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t),
		StallTimeout: 200 * time.Millisecond,
		Reconnect:    consumer.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
	}, func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil })
	grpctest.Eventually(t, 5*time.Second, "three subscriptions", func() bool { return src.subscribes.Load() >= 3 })

	// Heartbeats keep a stream alive past the stall timeout.
	src.silent.Store(false)
	time.Sleep(300 * time.Millisecond)
	n := src.subscribes.Load()
	time.Sleep(time.Second)
	if got := src.subscribes.Load(); got != n {
		t.Errorf("%d more subscriptions on a stream with heartbeats", got-n)
	}
}

// OUT_OF_RANGE ends Run with ErrCursorOutOfRange.
func TestCursorOutOfRange(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	src.outOfRange.Store(true)
	srv := serveSource(t, src)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := consumer.Run(ctx, consumer.Config{Name: "c", Source: "trip", Client: client(t, srv.addr), Pool: pool},
		func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil })
	if !errors.Is(err, consumer.ErrCursorOutOfRange) {
		t.Fatalf("Run returned %v, want ErrCursorOutOfRange", err)
	}
}

// Committed gets the keys of each committed batch's applied events, after the commit
// (the handlers' writes are visible from another connection then), and nothing of a
// batch that rolled back: over the run, every event's key exactly once.
func TestCommittedAfterTheCommit(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const n, nkeys = 40, 4
	src.addN(n, nkeys)
	var failed atomic.Bool
	var mu sync.Mutex
	got := map[string]int{}
	total := 0
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- consumer.Run(ctx, consumer.Config{Name: "c", Source: "trip", Client: client(t, srv.addr), Pool: pool,
			Retry: consumer.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
			Committed: func(keys []string) {
				var visible int
				if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM effects WHERE consumer = 'c'`).Scan(&visible); err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				total += len(keys)
				for _, k := range keys {
					got[k]++
				}
				if visible < total {
					t.Errorf("Committed told of %d applied events, but only %d effects are committed", total, visible)
				}
			}}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
			if ev.GetSequence() == 15 && failed.CompareAndSwap(false, true) {
				return errors.New("fails once: its batch rolls back")
			}
			return recordEffect(ctx, tx, "c", ev)
		})
	}()
	grpctest.Eventually(t, 10*time.Second, "every event applied", func() bool { return cursorSeq(t, pool, "c", "trip") == n })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !failed.Load() || total != n || len(got) != nkeys {
		t.Fatalf("Committed told of %d events over keys %v (the failure happened: %t); want %d events over %d keys, each once", total, got, failed.Load(), n, nkeys)
	}
	for k, c := range got {
		if c != n/nkeys {
			t.Errorf("key %s: %d applied events told, want %d", k, c, n/nkeys)
		}
	}
}

// A type filter reaches the source, and heartbeats move the stored cursor past the
// events it filtered out.
func TestTypeFilterAndHeartbeatCursor(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	src.addN(10, 2)
	src.mu.Lock()
	for _, ev := range src.events[5:] {
		ev.Type = "shop.item.other"
	}
	src.mu.Unlock()
	var got atomic.Int64
	runConsumer(t, consumer.Config{
		Name: "c", Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t),
		Types: []string{"shop.item.changed"}, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_KEYS_ONLY,
	}, func(_ context.Context, _ *txn.Tx, ev *eventsv1.Event) error {
		if ev.GetPayload() != nil {
			t.Errorf("event %d has a payload in KEYS_ONLY mode", ev.GetSequence())
		}
		got.Add(1)
		return nil
	})
	grpctest.Eventually(t, 5*time.Second, "the heartbeat's cursor stored", func() bool {
		return count(t, pool, `SELECT count(*) FROM consumer_cursors WHERE cursor = '10'`) == 1
	})
	if got.Load() != 5 {
		t.Errorf("handler ran %d times, want 5", got.Load())
	}
	if seq := cursorSeq(t, pool, "c", "trip"); seq != 5 {
		t.Errorf("stored seq %d, want 5 (the last event applied)", seq)
	}
}

// The handler's context carries a span linked to the producer's, and the metrics report
// lag, parked events and handler latency per consumer and source.
func TestMetricsAndTrace(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	producer := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), producer), carrier)
	evs := src.add("a", "bad", "bad", "a")
	for _, ev := range evs {
		ev.TraceContext = carrier
	}

	var mu sync.Mutex
	var handlerSpans []trace.SpanContext
	runConsumer(t, consumer.Config{
		Name: "c", Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t),
		Meter: mp.Meter("test"), TracerProvider: tp, Retry: quick,
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		mu.Lock()
		handlerSpans = append(handlerSpans, trace.SpanContextFromContext(ctx))
		mu.Unlock()
		if ev.GetKey() == "bad" {
			return errors.New("bad key")
		}
		return nil
	})
	grpctest.Eventually(t, 10*time.Second, "events applied or parked", func() bool { return cursorSeq(t, pool, "c", "trip") == 4 })

	mu.Lock()
	defer mu.Unlock()
	ended := spans.Ended()
	if len(ended) == 0 || len(ended) != len(handlerSpans) {
		t.Fatalf("%d spans ended for %d handler calls", len(ended), len(handlerSpans))
	}
	for i, s := range ended {
		if s.SpanContext().SpanID() != handlerSpans[i].SpanID() {
			t.Errorf("span %d is not the handler context's span", i)
		}
		if s.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("span %d has kind %v", i, s.SpanKind())
		}
		if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != producer.SpanID() || s.Links()[0].SpanContext.TraceID() != producer.TraceID() {
			t.Errorf("span %d links %v, want the producer's span", i, s.Links())
		}
	}

	want := map[string]float64{
		consumer.MetricLagEvents:           0,
		consumer.MetricLag:                 0,
		consumer.MetricParked:              2, // the failing event and the one behind it
		consumer.MetricHandlerDuration:     float64(len(handlerSpans)),
		consumer.MetricEvents + "/applied": 2,
		consumer.MetricEvents + "/parked":  2,
	}
	// The metrics move right after the commit that the cursor shows.
	matches := func(got map[string]float64) bool {
		for name, w := range want {
			if g, ok := got[name]; !ok || g != w {
				return false
			}
		}
		return true
	}
	got := collectMetrics(t, reader)
	for deadline := time.Now().Add(5 * time.Second); !matches(got) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got = collectMetrics(t, reader)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("metric %s = %v (reported: %v), want %v", name, g, ok, w)
		}
	}
}

// collectMetrics reads the consumer's metrics: gauges and histogram counts by name, and
// counters by name and outcome ("name/outcome").
func collectMetrics(t *testing.T, reader *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					checkAttrs(t, m.Name, p.Attributes.ToSlice())
					got[m.Name] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					got[m.Name] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					checkAttrs(t, m.Name, p.Attributes.ToSlice())
					got[m.Name] += float64(p.Count)
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if v, _ := p.Attributes.Value("outcome"); v.AsString() != "" {
						got[m.Name+"/"+v.AsString()] = float64(p.Value)
					}
				}
			}
		}
	}
	return got
}

func checkAttrs(t *testing.T, metric string, kvs []attribute.KeyValue) {
	t.Helper()
	var consumerName, source string
	for _, kv := range kvs {
		switch kv.Key {
		case "consumer":
			consumerName = kv.Value.AsString()
		case "source":
			source = kv.Value.AsString()
		}
	}
	if consumerName != "c" || source != "trip" {
		t.Errorf("metric %s has attributes %v, want consumer=c, source=trip", metric, kvs)
	}
}

// Deleting a consumer's cursor row (to consume the source again) makes the running
// consumer start over instead of retrying forever.
func TestDeletedCursorStartsOver(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	name := "again"
	runConsumer(t, consumer.Config{
		Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t),
		Reconnect: consumer.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		return recordEffect(ctx, tx, name, ev)
	})
	src.addN(10, 2)
	grpctest.Eventually(t, 10*time.Second, "events applied", func() bool { return cursorSeq(t, pool, name, "trip") == 10 })
	if _, err := pool.Exec(t.Context(), `DELETE FROM consumer_cursors`); err != nil {
		t.Fatal(err)
	}
	src.addN(1, 2)
	grpctest.Eventually(t, 10*time.Second, "events applied again", func() bool {
		return count(t, pool, `SELECT count(*) FROM effects`) == 10+11
	})
}

// TestCommitsAreAsynchronous: a batch's transaction commits with synchronous_commit off
// (see asyncCommitSQL), and the setting stays the transaction's: the pooled connection
// keeps its own.
func TestCommitsAreAsynchronous(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(pgtest.NewURL(t, pgtest.Schemas{testSchema: testMigrations}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = testSchema
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on" // pgtest's server has it off
	cfg.MaxConns = 1                                          // the checks below run on the consumer's connection
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const n = 20
	src.addN(n, 3)
	var mu sync.Mutex
	settings := map[string]int{}
	name := "async"
	runConsumer(t, consumer.Config{Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t)},
		func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
			var s string
			if err := tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&s); err != nil {
				return err
			}
			mu.Lock()
			settings[s]++
			mu.Unlock()
			return recordEffect(ctx, tx, name, ev)
		})
	grpctest.Eventually(t, 30*time.Second, "all events applied", func() bool { return cursorSeq(t, pool, name, "trip") == n })
	checkExactlyOnce(t, pool, name, n)
	mu.Lock()
	defer mu.Unlock()
	if settings["off"] != n || len(settings) != 1 {
		t.Fatalf("handlers saw synchronous_commit %v, want off for all %d events", settings, n)
	}
	var s string
	if err := pool.QueryRow(t.Context(), `SHOW synchronous_commit`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s != "on" {
		t.Fatalf("after the consumer's commits the connection's synchronous_commit is %q, want on", s)
	}
}

// TestLingerGathersATrickle: events arriving a few milliseconds apart share a
// transaction when the batch lingers for them, and are applied one per transaction
// when it does not.
func TestLingerGathersATrickle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		linger time.Duration
		check  func(txs int) bool
		want   string
	}{
		{"lingering", 2 * time.Second, func(txs int) bool { return txs == 1 }, "1"},
		{"not lingering", -1, func(txs int) bool { return txs > 1 }, "more than 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := newDB(t)
			src := newFakeSource("trip")
			src.heartbeat = time.Hour // a heartbeat would end the batch
			srv := serveSource(t, src)
			var mu sync.Mutex
			txs := map[int64]int{}
			name := "linger"
			runConsumer(t, consumer.Config{Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool,
				Logger: testLogger(t), Linger: tc.linger},
				func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
					var id int64
					if err := tx.QueryRow(ctx, `SELECT txid_current()`).Scan(&id); err != nil {
						return err
					}
					mu.Lock()
					txs[id]++
					mu.Unlock()
					return recordEffect(ctx, tx, name, ev)
				})
			const n = 5
			for i := range n {
				src.add(fmt.Sprintf("k%d", i))
				time.Sleep(20 * time.Millisecond)
			}
			grpctest.Eventually(t, 30*time.Second, "all events applied", func() bool { return cursorSeq(t, pool, name, "trip") == n })
			checkExactlyOnce(t, pool, name, n)
			mu.Lock()
			defer mu.Unlock()
			if !tc.check(len(txs)) {
				t.Fatalf("%d events 20 ms apart were applied in %d transactions, want %s", n, len(txs), tc.want)
			}
		})
	}
}

// TestSourceWithoutStream: a source that serves no event stream (UNIMPLEMENTED) is asked
// again only after NoStreamRetry, not at the reconnect backoff's pace.
func TestSourceWithoutStream(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		attempts.Add(1)
		return status.Error(codes.Unimplemented, "no event stream here")
	}))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	runConsumer(t, consumer.Config{Name: "nostream", Source: "trip", Client: client(t, lis.Addr().String()), Pool: newDB(t),
		Logger: testLogger(t), Reconnect: consumer.Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}},
		func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil })
	grpctest.Eventually(t, 10*time.Second, "the first subscription", func() bool { return attempts.Load() >= 1 })
	time.Sleep(time.Second) // 50 and more tries at the reconnect backoff's pace
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d subscriptions to a source without a stream in a second, want 1", n)
	}
}
