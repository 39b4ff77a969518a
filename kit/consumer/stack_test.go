package consumer_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// The producing service of the end-to-end tests and benchmarks.
const (
	producerSchema = "trip"
	itemChanged    = "trip.item.changed"
)

// producerMigrations are outbox.Migrations plus the producer's aggregates: one row per
// key whose version each event carries.
var producerMigrations = pgxutil.MustMergeMigrations(outbox.Migrations, fstest.MapFS{"0001_item.sql": {Data: []byte(
	`CREATE TABLE item (key text PRIMARY KEY, version bigint NOT NULL DEFAULT 0);`)}})

// stack is the real event backbone in one database: the producer's schema with its
// outbox, sequencer, reader and EventStreamService on loopback gRPC, and the consumer's
// schema.
type stack struct {
	producer *pgxpool.Pool // search_path: the producer's schema
	consumer *pgxpool.Pool // search_path: the consumer's schema
	log      *outbox.Log
	txn      *txn.Runner // the producer's transactions, which wake log's sequencer
	client   eventsv1.EventStreamServiceClient
	addr     string // the EventStreamService's address
	url      string // the database's URL
}

func newStack(tb testing.TB) *stack {
	tb.Helper()
	url := pgtest.NewURL(tb, pgtest.Schemas{producerSchema: producerMigrations, testSchema: testMigrations})
	pool := func(schema string) *pgxpool.Pool {
		p, err := pgxutil.Connect(context.Background(), url, pgxutil.PoolConfig{Schema: schema, MaxConns: 20})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(p.Close)
		return p
	}
	s := &stack{producer: pool(producerSchema), consumer: pool(testSchema), url: url}
	s.log = outbox.New(s.producer, producerSchema, outbox.Options{})
	s.txn = txn.New(s.producer, txn.Options{Notify: s.log.Notify})
	reader := eventstream.NewReader(s.producer, producerSchema, s.log, eventstream.ReaderOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.log.Run(ctx) })
	wg.Go(func() { _ = reader.Run(ctx) })
	// The producer verifies tokens as a service does; the consumer subscribes as a service
	// (stackAuth), as Subscribe requires.
	srv := grpc.NewServer(grpc.ChainStreamInterceptor(stackSigner.StreamServerInterceptor()))
	eventsv1.RegisterEventStreamServiceServer(srv, eventstream.NewServer(producerSchema, []string{itemChanged}, reader, eventstream.ServerOptions{}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	wg.Go(func() { _ = srv.Serve(lis) })
	tb.Cleanup(func() {
		srv.Stop()
		cancel()
		wg.Wait()
	})
	s.addr = lis.Addr().String()
	s.client = client(tb, s.addr, stackAuth)
	return s
}

// produce commits one event for key the way a service does: it bumps the aggregate's
// version (locking its row, so the key's events are sequenced in commit order) and emits
// the new version in the same transaction. With rollback set, it emits and then rolls
// back. It returns the version committed.
func (s *stack) produce(ctx context.Context, key string, rollback bool) (int64, error) {
	var version int64
	err := s.txn.Run(ctx, func(tx *txn.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO item (key, version) VALUES ($1, 1)
			ON CONFLICT (key) DO UPDATE SET version = item.version + 1 RETURNING version`, key).Scan(&version)
		if err != nil {
			return err
		}
		tx.Emit(outbox.Event{Type: itemChanged, Key: key, Payload: wrapperspb.Int64(version)})
		if rollback {
			return errRollback
		}
		return nil
	})
	return version, err
}

// errRollback rolls a producer's transaction back on purpose.
var errRollback = rollbackError{}

type rollbackError struct{}

func (rollbackError) Error() string { return "rolled back on purpose" }

// checkKeyOrder fails unless consumer name applied each key's versions 1, 2, 3, … in
// that order, without gaps.
func checkKeyOrder(tb testing.TB, pool *pgxpool.Pool, name string) {
	tb.Helper()
	bad := count(tb, pool, `SELECT count(*) FROM (
		SELECT value, row_number() OVER (PARTITION BY key ORDER BY id) AS n FROM effects WHERE consumer = $1) s
		WHERE value <> n`, name)
	if bad != 0 {
		tb.Fatalf("consumer %s: %d events applied out of their key's commit order", name, bad)
	}
}

// stackSigner verifies the stack's tokens; stackAuth makes a connection call as the
// consuming service.
var (
	stackSigner = func() *auth.Signer {
		s, err := auth.NewSigner("consumer-stack-secret-0123456789")
		if err != nil {
			panic(err)
		}
		return s
	}()
	stackAuth = stackSigner.DialOption(auth.Identity{Subject: "consumer-test", Role: auth.RoleService})
)
