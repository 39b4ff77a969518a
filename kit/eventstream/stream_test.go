package eventstream_test

import (
	"context"
	"encoding/base64"
	"fmt"

	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/txn"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{0, 1, 42, 1 << 40, 9223372036854775807} {
		c := eventstream.EncodeCursor(seq)
		got, err := eventstream.DecodeCursor(c)
		if err != nil || got != seq {
			t.Errorf("DecodeCursor(EncodeCursor(%d)) = %d, %v", seq, got, err)
		}
	}
	for _, bad := range badCursors() {
		if seq, err := eventstream.DecodeCursor(bad); err == nil {
			t.Errorf("DecodeCursor(%q) = %d, want an error", bad, seq)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func badCursors() []string {
	return []string{
		"", "garbage!", "djE6", // "v1:"
		b64("v2:5"), b64("v1:-1"), b64("v1:+1"), b64("v1:01"), b64("v1: 1"), b64("v1:1x"),
		b64("v1:99999999999999999999"),                    // overflows int64
		base64.URLEncoding.EncodeToString([]byte("v1:5")), // padded
		base64.StdEncoding.EncodeToString([]byte("v1:1234567")) + "/",
		strings.Repeat("A", 10_000),
	}
}

func TestSubscribeReplaysThenFollows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: eventstream.ServerOptions{PageSize: 7}})
	e.emitN(t, 20, typeAdded)
	e.waitSequenced(t, 20)

	s := subscribe(t, e.client, &eventsv1.SubscribeRequest{Service: service})
	wantSeqs(t, s.events(t, 20), 1, 20)
	e.emitN(t, 5, typeAdded)
	evs := s.events(t, 5)
	wantSeqs(t, evs, 21, 25)
	for _, ev := range evs {
		if ev.GetSource() != service || ev.GetId() == "" || ev.GetOccurredTime() == nil || ev.GetType() != typeAdded {
			t.Fatalf("event missing fields: %v", ev)
		}
	}
	s.noEvent(t, 200*time.Millisecond)
}

// TestOwnBatchesAreNotReadBack: the reader gets this process's batches from the
// sequencer's hand-over; the LISTEN notification of such a batch, which can arrive before
// the hand-over (here a slow hook registered ahead of the reader's makes sure it does),
// must not make the reader read the batch back from the database.
func TestOwnBatchesAreNotReadBack(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, schema, migrations(t))
	log := outbox.New(pool, schema, outbox.Options{})
	log.OnAppend(func([]outbox.Logged) { time.Sleep(20 * time.Millisecond) })
	reader := eventstream.NewReader(pool, schema, log, eventstream.ReaderOptions{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { _ = log.Run(ctx) })
	wg.Go(func() { _ = reader.Run(ctx) })
	grpctest.Eventually(t, 10*time.Second, "the reader's first read", func() bool { return eventstream.LogReads(reader) > 0 })
	time.Sleep(100 * time.Millisecond) // its LISTEN connection is up
	before := eventstream.LogReads(reader)
	runner := txn.New(pool, txn.Options{Notify: log.Notify})
	const n = 20
	for i := range int64(n) {
		err := runner.Run(ctx, func(tx *txn.Tx) error {
			tx.Emit(outbox.Event{Type: typeAdded, Key: fmt.Sprint("k", i)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// One batch per event: wait for it to be sequenced and handed over.
		grpctest.Eventually(t, 10*time.Second, "the event sequenced", func() bool {
			var last int64
			return pool.QueryRow(ctx, "SELECT last_seq FROM event_log_head").Scan(&last) == nil && last == i+1
		})
		log.Wait()
	}
	time.Sleep(100 * time.Millisecond) // the last notification arrives
	if reads := eventstream.LogReads(reader) - before; reads > 1 {
		t.Fatalf("the reader read the log %d times for %d batches of its own process", reads, n)
	}
}

// TestLateCommitOfLowerIDIsDelivered is the trap a reader that trusts bigserial falls
// into: transaction A inserts its outbox row first (lower id) but commits after B, whose
// event the subscriber has already received. A's event must still arrive, after B's.
func TestLateCommitOfLowerIDIsDelivered(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t, envOptions{})
	s := subscribe(t, e.client, &eventsv1.SubscribeRequest{})
	if hb := s.next(t, 10*time.Second); !hb.GetHeartbeat() {
		t.Fatalf("first message %v, want the heartbeat that says the stream is live", hb)
	}

	txA, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if err := outbox.Emit(ctx, txA, outbox.Event{Type: typeAdded, Key: "A"}); err != nil {
		t.Fatal(err)
	}
	var idA int64
	if err := txA.QueryRow(ctx, "SELECT max(id) FROM outbox").Scan(&idA); err != nil {
		t.Fatal(err)
	}
	e.emit(t, outbox.Event{Type: typeAdded, Key: "B"})
	// B's outbox row, inserted with its commit, took the id the sequence gave last.
	var idB int64
	if err := e.pool.QueryRow(ctx, "SELECT last_value FROM outbox_id_seq").Scan(&idB); err != nil {
		t.Fatal(err)
	}
	if idA >= idB {
		t.Fatalf("outbox ids A=%d B=%d: the test needs A's lower", idA, idB)
	}
	got := s.events(t, 1)[0]
	if got.GetKey() != "B" || got.GetSequence() != 1 {
		t.Fatalf("first event %s seq %d, want B at 1", got.GetKey(), got.GetSequence())
	}

	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e.log.Notify()
	got = s.events(t, 1)[0]
	if got.GetKey() != "A" || got.GetSequence() != 2 {
		t.Fatalf("second event %s seq %d, want A at 2", got.GetKey(), got.GetSequence())
	}
}

func TestResumeFromCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: eventstream.ServerOptions{PageSize: 16}})
	e.emitN(t, 100, typeAdded)
	e.waitSequenced(t, 100)

	first := subscribe(t, e.client, &eventsv1.SubscribeRequest{})
	var last string
	for got := 0; got < 40; {
		msg := first.next(t, 10*time.Second)
		if msg.GetHeartbeat() {
			continue
		}
		got++
		last = msg.GetCursor()
		if msg.GetEvent().GetSequence() != int64(got) {
			t.Fatalf("event %d has seq %d", got, msg.GetEvent().GetSequence())
		}
	}
	first.cancel()

	second := subscribe(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: last})
	wantSeqs(t, second.events(t, 60), 41, 100)
	e.emitN(t, 10, typeAdded)
	wantSeqs(t, second.events(t, 10), 101, 110)
	second.noEvent(t, 200*time.Millisecond)

	// A heartbeat's cursor resumes too: it says "everything up to here".
	third := subscribe(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: cursor(110)})
	hb := third.next(t, 10*time.Second)
	if !hb.GetHeartbeat() || hb.GetCursor() != cursor(110) {
		t.Fatalf("got %v, want a heartbeat at the head", hb)
	}
	fourth := subscribe(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: hb.GetCursor()})
	e.emitN(t, 1, typeAdded)
	wantSeqs(t, fourth.events(t, 1), 111, 111)
}

func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t, envOptions{})
	e.emitN(t, 50, typeAdded)
	e.waitSequenced(t, 50)

	current := subscribe(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: cursor(50)})
	behind := subscribe(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: cursor(40)})
	wantSeqs(t, behind.events(t, 10), 41, 50)

	if _, err := e.pool.Exec(ctx, "UPDATE event_log SET sequenced_at = now() - interval '8 days' WHERE seq <= 30"); err != nil {
		t.Fatal(err)
	}
	n, err := e.log.Prune(ctx, 7*24*time.Hour)
	if err != nil || n != 30 {
		t.Fatalf("Prune = %d, %v; want 30", n, err)
	}
	var left, oldest int64
	if err := e.pool.QueryRow(ctx, "SELECT count(*), min(seq) FROM event_log").Scan(&left, &oldest); err != nil {
		t.Fatal(err)
	}
	if left != 20 || oldest != 31 {
		t.Fatalf("%d events left from %d, want 20 from 31", left, oldest)
	}

	for _, stale := range []int64{0, 10, 29} {
		st := subscribeErr(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: cursor(stale)})
		wantCode(t, st, codes.OutOfRange)
		if !strings.Contains(st.Message(), "resynchronize") {
			t.Errorf("OUT_OF_RANGE message %q does not tell the consumer to resynchronize", st.Message())
		}
	}
	st := subscribeErr(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: cursor(51)})
	wantCode(t, st, codes.OutOfRange) // ahead of the log: not a cursor of this log

	atFloor := subscribe(t, e.client, &eventsv1.SubscribeRequest{AfterCursor: cursor(30)})
	wantSeqs(t, atFloor.events(t, 20), 31, 50)
	fromStart := subscribe(t, e.client, &eventsv1.SubscribeRequest{})
	wantSeqs(t, fromStart.events(t, 20), 31, 50)

	// Streams that were current are unaffected.
	e.emitN(t, 5, typeAdded)
	for _, s := range []*stream{current, behind, atFloor, fromStart} {
		wantSeqs(t, s.events(t, 5), 51, 55)
	}
}

func TestBadRequestsFailWithTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.emitN(t, 3, typeAdded)
	e.waitSequenced(t, 3)

	type bad struct {
		name   string
		req    *eventsv1.SubscribeRequest
		fields []string
	}
	var cases []bad
	for _, c := range badCursors() {
		if c != "" {
			cases = append(cases, bad{"cursor " + c[:min(len(c), 20)], &eventsv1.SubscribeRequest{AfterCursor: c}, []string{"after_cursor"}})
		}
	}
	cases = append(cases,
		bad{"unknown type", &eventsv1.SubscribeRequest{Types: []string{typeAdded, "shop.item.exploded"}}, []string{"types"}},
		bad{"empty type", &eventsv1.SubscribeRequest{Types: []string{""}}, []string{"types"}},
		bad{"other service", &eventsv1.SubscribeRequest{Service: "billing"}, []string{"service"}},
		bad{"payload mode", &eventsv1.SubscribeRequest{PayloadMode: 7}, []string{"payload_mode"}},
		bad{"everything", &eventsv1.SubscribeRequest{Service: "billing", AfterCursor: "x", Types: []string{"nope"}, PayloadMode: -1},
			[]string{"service", "after_cursor", "types", "payload_mode"}},
	)
	for _, c := range cases {
		st := subscribeErr(t, e.client, c.req)
		wantCode(t, st, codes.InvalidArgument)
		var fields []string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
					if v.GetDescription() == "" {
						t.Errorf("%s: violation of %s without a description", c.name, v.GetField())
					}
				}
			}
		}
		if strings.Join(fields, ",") != strings.Join(c.fields, ",") {
			t.Errorf("%s: BadRequest names %v, want %v", c.name, fields, c.fields)
		}
	}

	// Nothing changed: the log, the fan-out, and a good subscription still works.
	if last, pruned := e.head(t); last != 3 || pruned != 0 {
		t.Errorf("head moved to %d (pruned %d)", last, pruned)
	}
	if n := eventstream.Subscribers(e.reader); n != 0 {
		t.Errorf("%d subscribers registered by rejected requests", n)
	}
	s := subscribe(t, e.client, &eventsv1.SubscribeRequest{Service: service, Types: []string{typeAdded, typeAdded}})
	wantSeqs(t, s.events(t, 3), 1, 3)
}

func TestPayloadModes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	payload := wrapperspb.String("state of item 7")
	err := e.txn.Run(ctx, func(tx *txn.Tx) error {
		tx.Emit(outbox.Event{Type: typeAdded, Key: "7", Payload: payload})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	full := subscribe(t, e.client, &eventsv1.SubscribeRequest{PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL}).events(t, 1)[0]
	skinny := subscribe(t, e.client, &eventsv1.SubscribeRequest{PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_KEYS_ONLY}).events(t, 1)[0]
	dflt := subscribe(t, e.client, &eventsv1.SubscribeRequest{}).events(t, 1)[0]

	var got wrapperspb.StringValue
	if err := full.GetPayload().UnmarshalTo(&got); err != nil || !proto.Equal(&got, payload) {
		t.Errorf("FULL payload %v (%v), want %v", &got, err, payload)
	}
	if !proto.Equal(full, dflt) {
		t.Errorf("unspecified mode gave %v, want FULL's %v", dflt, full)
	}
	if skinny.GetPayload() != nil {
		t.Errorf("KEYS_ONLY event carries a payload")
	}
	for _, ev := range []*eventsv1.Event{full, skinny} {
		if ev.GetKey() != "7" || ev.GetType() != typeAdded || ev.GetSequence() != 1 || ev.GetSource() != service ||
			ev.GetOccurredTime() == nil || ev.GetId() == "" {
			t.Errorf("event missing fields: %v", ev)
		}
		if tp := ev.GetTraceContext()["traceparent"]; tp != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
			t.Errorf("traceparent %q, want the producer's span", tp)
		}
	}
	skinny.Payload = full.Payload
	if !proto.Equal(skinny, full) {
		t.Errorf("KEYS_ONLY differs from FULL beyond the payload: %v vs %v", skinny, full)
	}
}

func TestHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{server: eventstream.ServerOptions{Heartbeat: 50 * time.Millisecond}})
	e.emitN(t, 2, typeAdded)
	e.waitSequenced(t, 2)

	s := subscribe(t, e.client, &eventsv1.SubscribeRequest{Types: []string{typeAdded}})
	wantSeqs(t, s.events(t, 2), 1, 2)
	// Idle: heartbeats keep coming, at the head.
	for range 3 {
		hb := s.next(t, 5*time.Second)
		if !hb.GetHeartbeat() || hb.GetEvent() != nil || hb.GetCursor() != cursor(2) {
			t.Fatalf("got %v while idle, want a heartbeat at cursor 2", hb)
		}
	}
	// Events the filter skips advance the heartbeat's cursor.
	e.emitN(t, 3, typeRemoved)
	deadline := time.Now().Add(10 * time.Second)
	for {
		hb := s.next(t, 5*time.Second)
		if !hb.GetHeartbeat() {
			t.Fatalf("filtered-out event delivered: %v", hb)
		}
		if hb.GetCursor() == cursor(5) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat cursor stuck at %s, want %s", hb.GetCursor(), cursor(5))
		}
	}
	e.emitN(t, 1, typeAdded)
	wantSeqs(t, s.events(t, 1), 6, 6)
}

func TestSlowSubscriberIsDisconnected(t *testing.T) {
	t.Parallel()
	// The reader hands out at most a page or a sequencer batch at a time: a buffer of
	// two never overflows for a subscriber that keeps up.
	e := newEnv(t, envOptions{
		log:    outbox.Options{BatchSize: 32},
		reader: eventstream.ReaderOptions{PageSize: 32},
		server: eventstream.ServerOptions{Buffer: 64, Heartbeat: time.Hour},
	})
	// The fast client's windows hold every event of the test, so flow control never
	// holds its sends back however late its goroutine is scheduled on a loaded machine.
	fastConn := dial(t, e.addr, grpc.WithInitialWindowSize(16<<20), grpc.WithInitialConnWindowSize(16<<20))
	fast := subscribe(t, eventsv1.NewEventStreamServiceClient(fastConn), &eventsv1.SubscribeRequest{})
	if !fast.next(t, 10*time.Second).GetHeartbeat() {
		t.Fatal("want the live heartbeat first")
	}
	// The slow client never reads: with fixed 64 KiB windows (no BDP growth) the server's
	// sends block after a few events, and then its buffer fills.
	slowConn := dial(t, e.addr, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	slowCtx, cancelSlow := context.WithCancel(context.Background())
	defer cancelSlow()
	slow, err := eventsv1.NewEventStreamServiceClient(slowConn).Subscribe(slowCtx, &eventsv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "both subscribers in the fan-out", func() bool { return eventstream.Subscribers(e.reader) == 2 })

	const n = 200
	big := wrapperspb.Bytes(make([]byte, 16<<10))
	for i := range n {
		e.emit(t, outbox.Event{Type: typeAdded, Key: "k" + fmt.Sprint(i), Payload: big})
	}
	wantSeqs(t, fast.events(t, n), 1, n)
	grpctest.Eventually(t, 10*time.Second, "the slow subscriber dropped", func() bool { return eventstream.Subscribers(e.reader) == 1 })

	// The slow client finds, after what was already in flight, RESOURCE_EXHAUSTED.
	var got int64
	for {
		msg, err := slow.Recv()
		if err != nil {
			wantCode(t, statusOf(err), codes.ResourceExhausted)
			break
		}
		if msg.GetHeartbeat() {
			continue
		}
		got++
		if msg.GetEvent().GetSequence() != got {
			t.Fatalf("slow subscriber got seq %d at position %d", msg.GetEvent().GetSequence(), got)
		}
	}
	if got >= n {
		t.Fatalf("slow subscriber received all %d events; it was not slow", got)
	}
	// The fast one goes on.
	e.emitN(t, 1, typeAdded)
	wantSeqs(t, fast.events(t, 1), n+1, n+1)
}

func TestReaderStopEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	s := subscribe(t, e.client, &eventsv1.SubscribeRequest{})
	s.next(t, 10*time.Second)
	e.cancel()
	wantCode(t, s.end(t, 10*time.Second), codes.Unavailable)
	wantCode(t, subscribeErr(t, e.client, &eventsv1.SubscribeRequest{}), codes.Unavailable)
}

// TestListenWakesOtherProcesses has the sequencer in another process than the reader
// (no in-process wake-up) and a poll interval longer than the test: only the
// sequencer's coalesced pg_notify can deliver the events.
func TestListenWakesOtherProcesses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noLocalLog: true, reader: eventstream.ReaderOptions{PollInterval: time.Hour}})
	s := subscribe(t, e.client, &eventsv1.SubscribeRequest{})
	s.next(t, 10*time.Second)

	writer := outbox.New(e.pool, schema, outbox.Options{PollInterval: time.Hour})
	writes := txn.New(e.pool, txn.Options{Notify: writer.Notify})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = writer.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	for i := range 3 {
		err := writes.Run(ctx, func(tx *txn.Tx) error {
			tx.Emit(outbox.Event{Type: typeAdded, Key: fmt.Sprint(i)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantSeqs(t, s.events(t, 1), int64(i+1), int64(i+1))
	}
}
