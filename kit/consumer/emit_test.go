package consumer_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/txn"
)

// emittedKeys lists the keys of the events in the outbox, in the order written.
func emittedKeys(t testing.TB, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := q.Query(t.Context(), `SELECT key FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A handler's events commit with its writes and the cursor's advance, or not at all:
// a handler that emits and then fails leaves no event behind, neither while it is
// retried nor when its event is parked; Notify runs after commits that emitted. A replay
// of the parked event emits in the replay's transaction.
func TestHandlersEmitWithTheCursor(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const name = "emitter"
	var fail atomic.Bool
	fail.Store(true)
	handler := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		tx.Emit(outbox.Event{Type: "shop.effect.recorded", Key: ev.GetKey()})
		if ev.GetKey() == "poison" && fail.Load() {
			return errors.New("poison")
		}
		return recordEffect(ctx, tx, name, ev)
	}
	var notified atomic.Int64
	runConsumer(t, consumer.Config{
		Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t), Retry: quick,
		Notify: func() { notified.Add(1) },
	}, handler)
	src.add("a", "poison", "b", "c")
	grpctest.Eventually(t, 10*time.Second, "every event processed", func() bool { return cursorSeq(t, pool, name, "trip") == 4 })
	keys := emittedKeys(t, pool)
	slices.Sort(keys)
	if want := []string{"a", "b", "c"}; !slices.Equal(keys, want) {
		t.Fatalf("events in the outbox have keys %v, want %v (none of the failed handler)", keys, want)
	}
	if notified.Load() == 0 {
		t.Error("Notify did not run after commits that emitted events")
	}
	if n := count(t, pool, `SELECT count(*) FROM effects`); n != 3 {
		t.Fatalf("%d effects, want 3", n)
	}

	var replayNotified atomic.Int64
	parking := consumer.NewParking(pool, map[string]consumer.Handler{name: handler},
		consumer.ParkingOptions{Notify: func() { replayNotified.Add(1) }})
	fail.Store(false)
	res, err := parking.Replay(t.Context(), name, nil)
	if err != nil || res.Replayed != 1 {
		t.Fatalf("replay: %+v, %v; want 1 replayed", res, err)
	}
	if keys := emittedKeys(t, pool); len(keys) != 4 || keys[3] != "poison" {
		t.Fatalf("after the replay the outbox has keys %v, want the replayed event's last", keys)
	}
	if replayNotified.Load() != 1 {
		t.Errorf("Notify ran %d times after the replay, want 1", replayNotified.Load())
	}
}

// Cursor reads the committed position: zero before the consumer starts, then the last
// event's sequence and the cursor after it.
func TestCursor(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	if pos, err := consumer.Cursor(t.Context(), pool, "reader", "trip"); err != nil || pos != (consumer.Position{}) {
		t.Fatalf("before the first event: %+v, %v; want the zero position", pos, err)
	}
	src := newFakeSource("trip")
	src.heartbeat = time.Hour // the cursor stays the last event's
	srv := serveSource(t, src)
	runConsumer(t, consumer.Config{Name: "reader", Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t)},
		func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil })
	src.addN(7, 2)
	grpctest.Eventually(t, 10*time.Second, "every event applied", func() bool { return cursorSeq(t, pool, "reader", "trip") == 7 })
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		pos, err := consumer.Cursor(t.Context(), tx, "reader", "trip")
		if err == nil && pos != (consumer.Position{Seq: 7, Cursor: "7"}) {
			t.Errorf("in a transaction: %+v, want seq 7, cursor 7", pos)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
