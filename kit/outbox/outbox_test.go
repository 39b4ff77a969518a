package outbox_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const schema = "shop"

// migrations is the outbox's migrations plus a table of aggregates, as a service would
// combine them.
func migrations(testing.TB) fs.FS {
	return pgxutil.MustMergeMigrations(outbox.Migrations,
		fstest.MapFS{"0001_item.sql": {Data: []byte("CREATE TABLE item (id text PRIMARY KEY, n int NOT NULL DEFAULT 0);")}})
}

func newLog(t *testing.T, opts outbox.Options) (*pgxpool.Pool, *outbox.Log) {
	t.Helper()
	pool := pgtest.NewDB(t, schema, migrations(t))
	return pool, outbox.New(pool, schema, opts)
}

// emitTx commits events in one transaction of kit/txn, as services write them, and
// wakes log's sequencer after the commit.
func emitTx(ctx context.Context, pool *pgxpool.Pool, log *outbox.Log, events ...outbox.Event) error {
	return txn.New(pool, txn.Options{Notify: log.Notify}).Run(ctx, func(tx *txn.Tx) error {
		tx.Emit(events...)
		return nil
	})
}

type logRow struct {
	seq                   int64
	typ, key, payloadType string
	payload               []byte
	trace                 map[string]string
	occurred, sequenced   time.Time
}

func readLog(t *testing.T, pool *pgxpool.Pool) []logRow {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT seq, type, key, coalesce(payload_type, ''), payload, trace_context, occurred_at, sequenced_at
		FROM event_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (logRow, error) {
		var l logRow
		err := r.Scan(&l.seq, &l.typ, &l.key, &l.payloadType, &l.payload, &l.trace, &l.occurred, &l.sequenced)
		return l, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func head(t *testing.T, pool *pgxpool.Pool) (last, pruned int64) {
	t.Helper()
	if err := pool.QueryRow(t.Context(), "SELECT last_seq, pruned_through FROM event_log_head").Scan(&last, &pruned); err != nil {
		t.Fatal(err)
	}
	return last, pruned
}

func count(t *testing.T, pool *pgxpool.Pool, query string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// inSpan returns ctx in a sampled span whose trace context is spanTraceparent.
func inSpan(ctx context.Context) context.Context {
	traceID, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
}

// spanTraceparent is the W3C traceparent of inSpan's span.
const spanTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// checkFirstTwo checks the first two events of the log as the emitting tests write them,
// in inSpan's span: a StringValue "first", then an event without a payload.
func checkFirstTwo(t *testing.T, got []logRow) {
	t.Helper()
	var first wrapperspb.StringValue
	if err := proto.Unmarshal(got[0].payload, &first); err != nil || first.GetValue() != "first" ||
		got[0].payloadType != "type.googleapis.com/google.protobuf.StringValue" {
		t.Errorf("payload %s %q (%v), want a StringValue \"first\"", got[0].payloadType, first.GetValue(), err)
	}
	if got[1].payloadType != "" || got[1].payload != nil {
		t.Errorf("event without payload stored %q %v", got[1].payloadType, got[1].payload)
	}
	if tp := got[0].trace["traceparent"]; tp != spanTraceparent {
		t.Errorf("traceparent %q, want the span's", tp)
	}
}

func TestEmitStoresEventsInTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, log := newLog(t, outbox.Options{})

	spanCtx := inSpan(ctx)
	err := emitTx(spanCtx, pool, log,
		outbox.Event{Type: "shop.item.added", Key: "a", Payload: wrapperspb.String("first")},
		outbox.Event{Type: "shop.item.noted", Key: "a"},
		outbox.Event{Type: "shop.item.added", Key: "b", Payload: &wrapperspb.Int64Value{}},
	)
	if err != nil {
		t.Fatal(err)
	}
	// An event without a type fails, with the transaction that emits it.
	if err := emitTx(ctx, pool, log, outbox.Event{Type: "shop.item.added", Key: "c"}, outbox.Event{Key: "d"}); err == nil {
		t.Fatal("an event without a type was accepted")
	}
	// Emit, in the caller's own transaction, resolves the table through search_path; a
	// rolled-back transaction leaves nothing.
	emitOwnTx := func(ev outbox.Event, commit bool) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := outbox.Emit(ctx, tx, ev); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	emitOwnTx(outbox.Event{Type: "shop.item.added", Key: "c"}, false)
	emitOwnTx(outbox.Event{Type: "shop.item.removed", Key: "a"}, true)

	if n, err := log.Sequence(ctx); err != nil || n != 4 {
		t.Fatalf("Sequence = %d, %v; want 4 events moved", n, err)
	}
	got := readLog(t, pool)
	if len(got) != 4 {
		t.Fatalf("%d events in the log, want 4", len(got))
	}
	want := []struct{ typ, key string }{{"shop.item.added", "a"}, {"shop.item.noted", "a"}, {"shop.item.added", "b"}, {"shop.item.removed", "a"}}
	for i, w := range want {
		if got[i].seq != int64(i+1) || got[i].typ != w.typ || got[i].key != w.key {
			t.Errorf("event %d = seq %d %s %s; want seq %d %s %s", i, got[i].seq, got[i].typ, got[i].key, i+1, w.typ, w.key)
		}
	}
	checkFirstTwo(t, got)
	if got[2].payload == nil || len(got[2].payload) != 0 || got[2].payloadType == "" {
		t.Errorf("empty message stored as %q %v, want its type and an empty value", got[2].payloadType, got[2].payload)
	}
	if got[3].trace != nil {
		t.Errorf("trace context %v stored without a span", got[3].trace)
	}
	if last, _ := head(t, pool); last != 4 {
		t.Errorf("head at %d, want 4", last)
	}
	if n := count(t, pool, "SELECT count(*) FROM outbox"); n != 0 {
		t.Errorf("%d rows left in the outbox", n)
	}
}

// TestQueueWritesEventsInTheBatchTransaction sends a transaction as one pipelined batch,
// BEGIN to COMMIT, with the events queued in it: they are stored as Emit stores them,
// and a batch whose transaction fails stores none.
func TestQueueWritesEventsInTheBatchTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, log := newLog(t, outbox.Options{})
	spanCtx := inSpan(ctx)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	send := func(ctx context.Context, item string, events ...outbox.Event) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue("INSERT INTO item (id) VALUES ($1)", item)
		if err := outbox.Queue(ctx, b, events...); err != nil {
			return err
		}
		b.Queue("COMMIT")
		err := conn.SendBatch(ctx, b).Close()
		if err != nil {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		return err
	}

	err = send(spanCtx, "a",
		outbox.Event{Type: "shop.item.added", Key: "a", Payload: wrapperspb.String("first")},
		outbox.Event{Type: "shop.item.noted", Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	// The item exists already: the transaction fails, and its event with it.
	if err := send(ctx, "a", outbox.Event{Type: "shop.item.added", Key: "a"}); err == nil {
		t.Fatal("a duplicate item was inserted")
	}
	if err := send(ctx, "b", outbox.Event{Key: "b"}); err == nil {
		t.Fatal("an event without a type was accepted")
	}
	b := &pgx.Batch{}
	if err := outbox.Queue(ctx, b); err != nil || b.Len() != 0 {
		t.Fatalf("Queue without events = %v and %d statements, want nothing queued", err, b.Len())
	}

	if n, err := log.Sequence(ctx); err != nil || n != 2 {
		t.Fatalf("Sequence = %d, %v; want 2 events moved", n, err)
	}
	got := readLog(t, pool)
	if len(got) != 2 || got[0].typ != "shop.item.added" || got[1].typ != "shop.item.noted" {
		t.Fatalf("log %+v, want the two events of the committed batch in order", got)
	}
	checkFirstTwo(t, got)
	if n := count(t, pool, "SELECT count(*) FROM item"); n != 1 {
		t.Errorf("%d items, want 1", n)
	}
}

func TestEmitAcceptsAny(t *testing.T) {
	t.Parallel()
	pool, log := newLog(t, outbox.Options{})
	a, err := anypb.New(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := emitTx(t.Context(), pool, log, outbox.Event{Type: "shop.item.added", Key: "a", Payload: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Sequence(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, pool)[0]; got.payloadType != a.TypeUrl || string(got.payload) != string(a.Value) {
		t.Errorf("stored %s %x, want the Any's own type and value, not an Any of an Any", got.payloadType, got.payload)
	}
}

// TestSequenceOrdersByCommitNotByID is the bigserial trap: transaction A inserts its
// outbox row first (lower id) but commits after B. The log must put B first, and A must
// not be lost behind it.
func TestSequenceOrdersByCommitNotByID(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, log := newLog(t, outbox.Options{})

	txA, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if err := outbox.Emit(ctx, txA, outbox.Event{Type: "shop.item.added", Key: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := emitTx(ctx, pool, log, outbox.Event{Type: "shop.item.added", Key: "B"}); err != nil {
		t.Fatal(err)
	}
	if n, err := log.Sequence(ctx); err != nil || n != 1 {
		t.Fatalf("Sequence = %d, %v; want only B's committed event", n, err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := log.Sequence(ctx); err != nil || n != 1 {
		t.Fatalf("Sequence = %d, %v; want A's late event", n, err)
	}
	got := readLog(t, pool)
	if len(got) != 2 || got[0].key != "B" || got[1].key != "A" || got[0].seq != 1 || got[1].seq != 2 {
		t.Fatalf("log = %+v, want B at 1 then A at 2", got)
	}
}

// TestConcurrentSequencersShareOneOrder runs several sequencers on one schema, as
// replicas do, while writers commit: sequence numbers stay 1..n without gaps or
// duplicates, and each writer's events keep their order.
func TestConcurrentSequencersShareOneOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, _ := newLog(t, outbox.Options{})
	const writers, perWriter, replicas = 4, 100, 3
	runCtx, stop := context.WithCancel(ctx)
	var seqs sync.WaitGroup
	logs := make([]*outbox.Log, replicas)
	for i := range logs {
		logs[i] = outbox.New(pool, schema, outbox.Options{PollInterval: 5 * time.Millisecond, BatchSize: 7})
		seqs.Go(func() { _ = logs[i].Run(runCtx) })
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				// The key carries the writer and its event's number, to check their order.
				key := fmt.Sprintf("%c%03d", 'a'+w, i)
				if err := emitTx(ctx, pool, logs[w%replicas], outbox.Event{Type: "shop.item.added", Key: key}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for count(t, pool, "SELECT count(*) FROM outbox") > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	seqs.Wait()
	got := readLog(t, pool)
	if len(got) != writers*perWriter {
		t.Fatalf("%d events in the log, want %d", len(got), writers*perWriter)
	}
	next := map[byte]int{} // each writer's next event number
	for i, r := range got {
		if r.seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: the log has a gap or a duplicate", i, r.seq)
		}
		if want := fmt.Sprintf("%c%03d", r.key[0], next[r.key[0]]); r.key != want {
			t.Fatalf("seq %d is %s, want %s: a writer's events are out of order", r.seq, r.key, want)
		}
		next[r.key[0]]++
	}
	if last, _ := head(t, pool); last != writers*perWriter {
		t.Errorf("head %d, want %d", last, writers*perWriter)
	}
}

// run starts l.Run and returns the function that stops it.
func run(t *testing.T, l *outbox.Log) (stop func()) {
	runCtx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- l.Run(runCtx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	}
}

// logBuffer collects a Log's error log, to show when a test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (lb *logBuffer) Write(p []byte) (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.Write(p)
}

func (lb *logBuffer) String() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.b.String()
}

// appendedSignal registers an OnAppend hook (before Run) and returns a function that
// waits up to 10 s for the next batch appended after its previous call.
func appendedSignal(log *outbox.Log) func() bool {
	ch := make(chan struct{}, 1000)
	log.OnAppend(func([]outbox.Logged) { ch <- struct{}{} })
	return func() bool {
		select {
		case <-ch:
			return true
		case <-time.After(10 * time.Second):
			return false
		}
	}
}

// TestRunWakesOnNotify: with an hour's poll interval, only the Notify that kit/txn calls
// after the commit can make the sequencer move the second event (the first is waited for, so that Run's pass at start
// is over).
func TestRunWakesOnNotify(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	pool, log := newLog(t, outbox.Options{PollInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	appended := appendedSignal(log)
	defer run(t, log)()
	for i, key := range []string{"a", "b"} {
		if err := emitTx(t.Context(), pool, log, outbox.Event{Type: "shop.item.added", Key: key}); err != nil {
			t.Fatal(err)
		}
		if !appended() {
			t.Fatalf("event %d: Notify did not wake the sequencer (the poll interval is an hour); log:\n%s", i+1, logs.String())
		}
	}
	if last, _ := head(t, pool); last != 2 {
		t.Fatalf("head %d after the wake-ups, want 2", last)
	}
}

// TestRunPollsForOtherWriters: an event committed without Notify (another replica's) is
// moved by the poll. As above, the first event is waited for so that Run's pass at start
// cannot be what finds the second.
func TestRunPollsForOtherWriters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var logs logBuffer
	pool, log := newLog(t, outbox.Options{PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	appended := appendedSignal(log)
	defer run(t, log)()
	for i, key := range []string{"a", "b"} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Emit(ctx, tx, outbox.Event{Type: "shop.item.added", Key: key}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if !appended() {
			last, _ := head(t, pool)
			t.Fatalf("event %d: the poll did not find an event written without Notify (head %d); log:\n%s", i+1, last, logs.String())
		}
	}
}

// TestOnAppendHandsOverBatches checks what a reader receives instead of reading the log
// back: every appended event, once, in order, with its fields.
func TestOnAppendHandsOverBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, log := newLog(t, outbox.Options{BatchSize: 3})
	var got []outbox.Logged
	log.OnAppend(func(evs []outbox.Logged) { got = append(got, evs...) })
	spanCtx := inSpan(ctx)
	for i := range 7 {
		c := ctx
		if i == 0 {
			c = spanCtx
		}
		ev := outbox.Event{Type: "shop.item.added", Key: fmt.Sprint(i)}
		if i%2 == 0 {
			ev.Payload = wrapperspb.Int64(int64(i))
		}
		if err := emitTx(c, pool, log, ev); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := log.Sequence(ctx); err != nil || n != 7 {
		t.Fatalf("Sequence = %d, %v", n, err)
	}
	stored := readLog(t, pool)
	if len(got) != 7 {
		t.Fatalf("handed over %d events, want 7", len(got))
	}
	var ids []string
	rows, err := pool.Query(ctx, "SELECT event_id::text FROM event_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	for i, ev := range got {
		s := stored[i]
		if ev.Seq != s.seq || ev.EventID != ids[i] || ev.Type != s.typ || ev.Key != s.key || ev.PayloadType != s.payloadType ||
			string(ev.Payload) != string(s.payload) || !ev.OccurredAt.Equal(s.occurred) || len(ev.TraceContext) != len(s.trace) {
			t.Errorf("handed over %+v, stored %+v", ev, s)
		}
	}
	if tp := got[0].TraceContext["traceparent"]; tp != spanTraceparent {
		t.Errorf("handed over traceparent %q, want the span's", tp)
	}
}

func TestPruneDeletesOldPrefix(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, log := newLog(t, outbox.Options{})
	const total = 12_000 // more than two prune transactions
	if _, err := pool.Exec(ctx, "INSERT INTO outbox (type, key) SELECT 'shop.item.added', g::text FROM generate_series(1, $1) g", total); err != nil {
		t.Fatal(err)
	}
	if n, err := log.Sequence(ctx); err != nil || n != total {
		t.Fatalf("Sequence = %d, %v", n, err)
	}
	// Old: 1..11000 except 10500, which is young and stops the prune there.
	if _, err := pool.Exec(ctx, `UPDATE event_log SET sequenced_at = now() - interval '8 days' WHERE seq <= 11000 AND seq <> 10500`); err != nil {
		t.Fatal(err)
	}
	n, err := log.Prune(ctx, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 10499 {
		t.Errorf("Prune deleted %d, want 10499 (the old prefix up to the first young event)", n)
	}
	if _, pruned := head(t, pool); pruned != 10499 {
		t.Errorf("pruned_through %d, want 10499", pruned)
	}
	if got := count(t, pool, "SELECT min(seq) FROM event_log"); got != 10500 {
		t.Errorf("first event left %d, want 10500", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM event_log"); got != total-10499 {
		t.Errorf("%d events left, want %d", got, total-10499)
	}
	// Nothing more is old enough at the front: a second prune deletes nothing.
	if n, err := log.Prune(ctx, 7*24*time.Hour); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0", n, err)
	}
	// Everything is older than zero: all goes, and the head keeps its place.
	if n, err := log.Prune(ctx, 0); err != nil || n != total-10499 {
		t.Errorf("Prune(0) = %d, %v; want the rest", n, err)
	}
	if last, pruned := head(t, pool); last != total || pruned != total {
		t.Errorf("head %d pruned through %d, want both %d", last, pruned, total)
	}
	// Sequencing continues after the pruned range.
	if err := emitTx(ctx, pool, log, outbox.Event{Type: "shop.item.added", Key: "late"}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Sequence(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, pool); len(got) != 1 || got[0].seq != total+1 {
		t.Errorf("after pruning everything the next event got %+v, want seq %d", got, total+1)
	}
}

func TestRunPrunesPeriodically(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, log := newLog(t, outbox.Options{Retention: time.Hour, PruneInterval: 20 * time.Millisecond})
	for range 3 {
		if err := emitTx(ctx, pool, log, outbox.Event{Type: "shop.item.added", Key: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := log.Sequence(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE event_log SET sequenced_at = now() - interval '2 hours' WHERE seq <= 2"); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = log.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, pruned := head(t, pool); pruned == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune events older than the retention")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, pool, "SELECT count(*) FROM event_log"); n != 1 {
		t.Errorf("%d events left, want the young one", n)
	}
}
