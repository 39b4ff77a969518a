package eventstream_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	schema  = "shop"
	service = "shop"

	typeBumped  = "shop.item.bumped"
	typeAdded   = "shop.item.added"
	typeRemoved = "shop.item.removed"
)

var knownTypes = []string{typeBumped, typeAdded, typeRemoved}

// signer verifies the tokens of the test servers and signs the clients'.
var signer = func() *auth.Signer {
	s, err := auth.NewSigner("eventstream-test-secret-0123456789")
	if err != nil {
		panic(err)
	}
	return s
}()

// subscriber is who the tests' clients are, unless a test says otherwise: a service, one
// of the callers Subscribe admits.
var subscriber = auth.Identity{Subject: "consumer", Role: auth.RoleService}

// withAuth is what a service's server does with tokens (kit/serve): it verifies them and
// puts the caller in the context.
func withAuth() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(signer.StreamServerInterceptor())
}

// migrations is the outbox's migrations plus a table of aggregates, as a service
// combines them.
func migrations(testing.TB) fs.FS {
	return pgxutil.MustMergeMigrations(outbox.Migrations,
		fstest.MapFS{"0001_item.sql": {Data: []byte("CREATE TABLE item (id text PRIMARY KEY, n bigint NOT NULL DEFAULT 0);")}})
}

// env is one emitting service: a database, its sequencer, a reader and the
// EventStreamService on a loopback gRPC server.
type env struct {
	pool   *pgxpool.Pool
	log    *outbox.Log
	txn    *txn.Runner // the service's transactions, which wake log's sequencer
	reader *eventstream.Reader
	client eventsv1.EventStreamServiceClient
	addr   string
	cancel context.CancelFunc // stops the sequencer and the reader
}

type envOptions struct {
	log    outbox.Options
	reader eventstream.ReaderOptions
	server eventstream.ServerOptions
	// noLocalLog gives the reader no in-process log, as in a replica that does not
	// write: only LISTEN and polling wake it.
	noLocalLog bool
	// pool, when set, is used instead of a new database.
	pool *pgxpool.Pool
}

func newEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	pool := o.pool
	if pool == nil {
		pool = pgtest.NewDB(tb, schema, migrations(tb))
	}
	e := &env{pool: pool, log: outbox.New(pool, schema, o.log)}
	e.txn = txn.New(pool, txn.Options{Notify: e.log.Notify})
	var local *outbox.Log
	if !o.noLocalLog {
		local = e.log
	}
	e.reader = eventstream.NewReader(pool, schema, local, o.reader)

	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	var wg sync.WaitGroup
	if !o.noLocalLog {
		wg.Go(func() { _ = e.log.Run(ctx) })
	}
	wg.Go(func() { _ = e.reader.Run(ctx) })

	srv := grpc.NewServer(withAuth())
	eventsv1.RegisterEventStreamServiceServer(srv, eventstream.NewServer(service, knownTypes, e.reader, o.server))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.addr = lis.Addr().String()
	wg.Go(func() { _ = srv.Serve(lis) })
	conn := dial(tb, e.addr)
	e.client = eventsv1.NewEventStreamServiceClient(conn)
	tb.Cleanup(func() {
		srv.Stop()
		cancel()
		wg.Wait()
	})
	return e
}

// dial connects to addr as subscriber.
func dial(tb testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	return dialAs(tb, addr, subscriber, opts...)
}

// dialAs connects to addr as id; the zero Identity sends no token.
func dialAs(tb testing.TB, addr string, id auth.Identity, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	if id != (auth.Identity{}) {
		opts = append(opts, signer.DialOption(id))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// emit commits one transaction that emits events.
func (e *env) emit(tb testing.TB, events ...outbox.Event) {
	tb.Helper()
	err := e.txn.Run(context.Background(), func(tx *txn.Tx) error {
		tx.Emit(events...)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// emitN commits n events of type typ, one transaction each, keyed k0, k1, ….
func (e *env) emitN(tb testing.TB, n int, typ string) {
	tb.Helper()
	for i := range n {
		e.emit(tb, outbox.Event{Type: typ, Key: "k" + strconv.Itoa(i)})
	}
}

// head returns the log's last sequence number and retention floor.
func (e *env) head(tb testing.TB) (last, pruned int64) {
	tb.Helper()
	if err := e.pool.QueryRow(context.Background(), "SELECT last_seq, pruned_through FROM event_log_head").Scan(&last, &pruned); err != nil {
		tb.Fatal(err)
	}
	return last, pruned
}

// waitSequenced waits until the sequencer has moved every outbox row.
func (e *env) waitSequenced(tb testing.TB, last int64) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l, _ := e.head(tb); l >= last {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the log did not reach seq %d", last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stream collects one subscription's messages in the background.
type stream struct {
	cancel context.CancelFunc
	msgs   chan *eventsv1.SubscribeResponse
	done   chan struct{}
	err    error // the stream's end, valid after done is closed
}

// subscribe opens a subscription on client.
func subscribe(tb testing.TB, client eventsv1.EventStreamServiceClient, req *eventsv1.SubscribeRequest) *stream {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{cancel: cancel, msgs: make(chan *eventsv1.SubscribeResponse, 1<<16), done: make(chan struct{})}
	cs, err := client.Subscribe(ctx, req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	go func() {
		defer close(s.done)
		for {
			msg, err := cs.Recv()
			if err != nil {
				s.err = err
				return
			}
			s.msgs <- msg
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next returns the next message, or fails the test after timeout.
func (s *stream) next(tb testing.TB, timeout time.Duration) *eventsv1.SubscribeResponse {
	tb.Helper()
	select {
	case msg := <-s.msgs:
		return msg
	case <-time.After(timeout):
		tb.Fatalf("no message within %v", timeout)
	}
	return nil
}

// events returns the next n events, skipping heartbeats.
func (s *stream) events(tb testing.TB, n int) []*eventsv1.Event {
	tb.Helper()
	var evs []*eventsv1.Event
	for len(evs) < n {
		select {
		case msg := <-s.msgs:
			if msg.GetHeartbeat() {
				continue
			}
			evs = append(evs, msg.GetEvent())
		case <-s.done:
			select {
			case msg := <-s.msgs:
				if !msg.GetHeartbeat() {
					evs = append(evs, msg.GetEvent())
				}
				continue
			default:
			}
			tb.Fatalf("stream ended after %d of %d events: %v", len(evs), n, s.err)
		case <-time.After(10 * time.Second):
			tb.Fatalf("only %d of %d events within 10s", len(evs), n)
		}
	}
	return evs
}

// noEvent asserts that no event arrives for d (heartbeats may).
func (s *stream) noEvent(tb testing.TB, d time.Duration) {
	tb.Helper()
	timeout := time.After(d)
	for {
		select {
		case msg := <-s.msgs:
			if !msg.GetHeartbeat() {
				tb.Fatalf("unexpected event %v", msg.GetEvent())
			}
		case <-timeout:
			return
		}
	}
}

// end waits for the stream to end and returns its status code, draining messages.
func (s *stream) end(tb testing.TB, timeout time.Duration) *status.Status {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case <-s.msgs:
		case <-s.done:
			return status.Convert(s.err)
		case <-deadline:
			tb.Fatalf("stream did not end within %v", timeout)
		}
	}
}

// subscribeErr opens a subscription that must fail at once, and returns its status.
func subscribeErr(tb testing.TB, client eventsv1.EventStreamServiceClient, req *eventsv1.SubscribeRequest) *status.Status {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Subscribe(ctx, req)
	if err != nil {
		return status.Convert(err)
	}
	for {
		msg, err := cs.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				tb.Fatal("stream ended without an error")
			}
			return status.Convert(err)
		}
		tb.Fatalf("got %v, want the subscription to fail", msg)
	}
}

func wantCode(tb testing.TB, st *status.Status, code codes.Code) {
	tb.Helper()
	if st.Code() != code {
		tb.Fatalf("status %v: %s, want %v", st.Code(), st.Message(), code)
	}
}

func cursor(seq int64) string { return eventstream.EncodeCursor(seq) }

// seqs returns the events' sequence numbers.
func seqs(evs []*eventsv1.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetSequence()
	}
	return out
}

// wantSeqs asserts that evs are exactly from..to.
func wantSeqs(tb testing.TB, evs []*eventsv1.Event, from, to int64) {
	tb.Helper()
	if int64(len(evs)) != to-from+1 {
		tb.Fatalf("got %d events %v, want seq %d..%d", len(evs), seqs(evs), from, to)
	}
	for i, ev := range evs {
		if ev.GetSequence() != from+int64(i) {
			tb.Fatalf("got seqs %v, want %d..%d", seqs(evs), from, to)
		}
	}
}

func statusOf(err error) *status.Status { return status.Convert(err) }
