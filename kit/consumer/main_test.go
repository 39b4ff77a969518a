package consumer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) {
	// A crash test re-executes this binary as the consumer process it kills.
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	pgtest.Main(m)
}

// testSchema is the consuming service's schema in the tests.
const testSchema = "shop"

// testMigrations are consumer.Migrations, the outbox of the events handlers emit, and the
// table the tests' handlers write: one row per handler run that committed.
var testMigrations = pgxutil.MustMergeMigrations(consumer.Migrations, outbox.Migrations, fstest.MapFS{"0900_effects.sql": {Data: []byte(`
CREATE TABLE effects (
    id       bigserial PRIMARY KEY,
    consumer text   NOT NULL,
    event_id text   NOT NULL,
    key      text   NOT NULL,
    seq      bigint NOT NULL,
    value    bigint NOT NULL,
    -- The consumer group member that applied the event (group tests only).
    member   text   NOT NULL DEFAULT ''
);`)}})

func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewDB(t, testSchema, testMigrations)
}

// recordEffect is the tests' handler body: it writes one effects row for ev.
func recordEffect(ctx context.Context, tx *txn.Tx, name string, ev *eventsv1.Event) error {
	var v wrapperspb.Int64Value
	if ev.GetPayload() != nil {
		if err := ev.GetPayload().UnmarshalTo(&v); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO effects (consumer, event_id, key, seq, value) VALUES ($1, $2, $3, $4, $5)`,
		name, ev.GetId(), ev.GetKey(), ev.GetSequence(), v.GetValue())
	return err
}

// checkExactlyOnce fails unless consumer name applied the events with sequence 1..n
// exactly once each, and each key's in sequence order.
func checkExactlyOnce(t testing.TB, pool *pgxpool.Pool, name string, n int) {
	t.Helper()
	ctx := context.Background()
	var total, distinct, minSeq, maxSeq int64
	err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0)
		FROM effects WHERE consumer = $1`, name).Scan(&total, &distinct, &minSeq, &maxSeq)
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(n) || distinct != int64(n) || (n > 0 && (minSeq != 1 || maxSeq != int64(n))) {
		t.Fatalf("consumer %s: %d effects of %d distinct events (seq %d..%d), want each of 1..%d exactly once",
			name, total, distinct, minSeq, maxSeq, n)
	}
	var outOfOrder int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT seq, lag(seq) OVER (PARTITION BY key ORDER BY id) AS prev FROM effects WHERE consumer = $1) s
		WHERE prev > seq`, name).Scan(&outOfOrder)
	if err != nil {
		t.Fatal(err)
	}
	if outOfOrder != 0 {
		t.Fatalf("consumer %s: %d events applied before an earlier event of their key", name, outOfOrder)
	}
}

// count runs a count query.
func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// testLogger logs to the test's output at level warn and above (debug with -v is noisy).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// fakeSource is an EventStreamService over an in-memory log, standing in for a service's
// event stream. Its cursor is the decimal sequence of the last event sent. It injects
// faults: streams dropped after some events, resent events, silence, OUT_OF_RANGE.
type fakeSource struct {
	eventsv1.UnimplementedEventStreamServiceServer

	name      string
	heartbeat time.Duration

	mu     sync.Mutex
	events []*eventsv1.Event
	grew   chan struct{} // closed and replaced when events are added

	// dropAfter, when set, returns how many events a new stream sends before it fails
	// with UNAVAILABLE; 0 means never.
	dropAfter func() int
	// resend is how many events before the cursor a new stream sends again.
	resend int
	// silent streams send nothing at all.
	silent atomic.Bool
	// outOfRange rejects every subscription with OUT_OF_RANGE.
	outOfRange atomic.Bool

	subscribes atomic.Int64
	drops      atomic.Int64
}

func newFakeSource(name string) *fakeSource {
	return &fakeSource{name: name, heartbeat: 100 * time.Millisecond, grew: make(chan struct{})}
}

// add appends events with the given keys and returns them. Event i of the log has
// payload Int64Value(i).
func (s *fakeSource) add(keys ...string) []*eventsv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added []*eventsv1.Event
	for _, k := range keys {
		seq := int64(len(s.events) + 1)
		payload, _ := anypb.New(wrapperspb.Int64(seq))
		ev := &eventsv1.Event{
			Id:           newID(),
			Type:         "shop.item.changed",
			Key:          k,
			Sequence:     seq,
			OccurredTime: timestamppb.Now(),
			Payload:      payload,
			Source:       s.name,
		}
		s.events = append(s.events, ev)
		added = append(added, ev)
	}
	close(s.grew)
	s.grew = make(chan struct{})
	return added
}

// addN appends n events over nkeys keys, round robin.
func (s *fakeSource) addN(n, nkeys int) {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i%nkeys)
	}
	s.add(keys...)
}

func (s *fakeSource) Subscribe(req *eventsv1.SubscribeRequest, stream grpc.ServerStreamingServer[eventsv1.SubscribeResponse]) error {
	s.subscribes.Add(1)
	ctx := stream.Context()
	if req.GetService() != "" && req.GetService() != s.name {
		return status.Errorf(codes.InvalidArgument, "service: this is %q", s.name)
	}
	pos := 0
	if c := req.GetAfterCursor(); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return status.Error(codes.InvalidArgument, "after_cursor: malformed")
		}
		pos = n
	}
	if s.outOfRange.Load() {
		return status.Error(codes.OutOfRange, "cursor older than retention; resynchronize")
	}
	if s.silent.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	pos = max(pos-s.resend, 0)
	limit := 0
	if s.dropAfter != nil {
		limit = s.dropAfter()
	}
	sent := 0
	hb := time.NewTimer(s.heartbeat)
	defer hb.Stop()
	for {
		s.mu.Lock()
		pending := s.events[min(pos, len(s.events)):]
		grew := s.grew
		s.mu.Unlock()
		for _, ev := range pending {
			if limit > 0 && sent >= limit {
				s.drops.Add(1)
				return status.Error(codes.Unavailable, "injected stream drop")
			}
			pos++
			if len(req.GetTypes()) > 0 && !slices.Contains(req.GetTypes(), ev.GetType()) {
				continue
			}
			out := ev
			if req.GetPayloadMode() == eventsv1.PayloadMode_PAYLOAD_MODE_KEYS_ONLY {
				out = proto.CloneOf(ev)
				out.Payload = nil
			}
			if err := stream.Send(&eventsv1.SubscribeResponse{Event: out, Cursor: strconv.Itoa(pos)}); err != nil {
				return err
			}
			sent++
		}
		select {
		case <-grew:
		case <-hb.C:
			if err := stream.Send(&eventsv1.SubscribeResponse{Heartbeat: true, Cursor: strconv.Itoa(pos)}); err != nil {
				return err
			}
			hb.Reset(s.heartbeat)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sourceServer serves a fakeSource over loopback and can be stopped and started again
// on the same address.
type sourceServer struct {
	src  *fakeSource
	addr string
	mu   sync.Mutex
	srv  *grpc.Server
}

func serveSource(t testing.TB, src *fakeSource) *sourceServer {
	t.Helper()
	s := &sourceServer{src: src, addr: "127.0.0.1:0"}
	s.start(t)
	t.Cleanup(s.stop)
	return s
}

func (s *sourceServer) start(t testing.TB) {
	t.Helper()
	var lis net.Listener
	var err error
	// The port was just released by stop; retry briefly in case the kernel holds it.
	for range 50 {
		if lis, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	srv := grpc.NewServer()
	eventsv1.RegisterEventStreamServiceServer(srv, s.src)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

func (s *sourceServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
		s.srv = nil
	}
}

// client dials addr as a consuming service would.
func client(t testing.TB, addr string, opts ...grpc.DialOption) eventsv1.EventStreamServiceClient {
	t.Helper()
	conn, err := grpcclient.Dial(addr, grpcclient.Options{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return eventsv1.NewEventStreamServiceClient(conn)
}

// runConsumer runs consumer.Run in the background until the test ends, failing the
// test if Run returns early (for other reasons than its context ending) unless the
// returned channel is read.
func runConsumer(t testing.TB, cfg consumer.Config, h consumer.Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx, cfg, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("consumer.Run did not return within 10s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("consumer.Run: %v", err)
		}
	})
	return stop
}

// quick is the retry pacing of tests that park events, so that they take milliseconds.
var quick = consumer.Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cursorSeq reads consumer name's committed sequence.
func cursorSeq(t testing.TB, pool *pgxpool.Pool, name, source string) int64 {
	t.Helper()
	pos, err := consumer.Cursor(context.Background(), pool, name, source)
	if err != nil {
		t.Fatal(err)
	}
	return pos.Seq
}

// grpcDial dials addr as a consuming service would.
func grpcDial(addr string) (*grpc.ClientConn, error) {
	return grpcclient.Dial(addr, grpcclient.Options{})
}
