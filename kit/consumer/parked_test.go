package consumer_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/txn"
)

// brokenKeys is a handler's failure switch: events of a broken key fail.
type brokenKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (b *brokenKeys) set(key string, broken bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys == nil {
		b.keys = map[string]bool{}
	}
	b.keys[key] = broken
}

func (b *brokenKeys) broken(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys[key]
}

// listAll pages through the parked events with the given page size.
func listAll(t testing.TB, parking *consumer.Parking, consumerName string, pageSize int) (all []consumer.Parked, pages int) {
	t.Helper()
	var after int64
	for {
		page, err := parking.List(t.Context(), consumerName, after, pageSize)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > pageSize {
			t.Fatalf("page of %d events, page size %d", len(page), pageSize)
		}
		all = append(all, page...)
		if len(page) < pageSize {
			return all, pages
		}
		after = page[len(page)-1].ID
	}
}

func parkedSeqs(ps []consumer.Parked) []int64 {
	var seqs []int64
	for _, p := range ps {
		seqs = append(seqs, p.Event.GetSequence())
	}
	return seqs
}

func parkedIDs(ps []consumer.Parked) []int64 {
	var ids []int64
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

// appliedSeqs lists the sequences consumer name applied for key, in the order applied.
func appliedSeqs(t testing.TB, pool *pgxpool.Pool, name, key string) []int64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT seq FROM effects WHERE consumer = $1 AND key = $2 ORDER BY id`, name, key)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// A handler failing for one key parks that key's event and every later event of the key,
// while the other keys keep flowing. Replay after the fix applies the parked events in
// order and removes them; Discard removes them without applying; List pages through them.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const name = "ledger"
	var broken brokenKeys
	handler := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if broken.broken(ev.GetKey()) {
			return errors.New("cannot apply " + ev.GetKey())
		}
		return recordEffect(ctx, tx, name, ev)
	}
	parking := consumer.NewParking(pool, map[string]consumer.Handler{name: handler}, consumer.ParkingOptions{})

	broken.set("b", true)
	var handlerCalls sync.Map // seq → calls, to count tries
	runConsumer(t, consumer.Config{
		Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t), Retry: quick,
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		v, _ := handlerCalls.LoadOrStore(ev.GetSequence(), new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		return handler(ctx, tx, ev)
	})
	// Keys a, b, c round robin: b's events are 2, 5, 8, ...
	var keys []string
	for i := range 30 {
		keys = append(keys, []string{"a", "b", "c"}[i%3])
	}
	src.add(keys...)
	grpctest.Eventually(t, 10*time.Second, "all events processed", func() bool { return cursorSeq(t, pool, name, "trip") == 30 })

	for _, key := range []string{"a", "c"} {
		if got := len(appliedSeqs(t, pool, name, key)); got != 10 {
			t.Errorf("key %s: %d events applied, want 10", key, got)
		}
	}
	if got := appliedSeqs(t, pool, name, "b"); len(got) != 0 {
		t.Fatalf("key b: events %v applied while its handler fails", got)
	}
	parked, pages := listAll(t, parking, name, 3)
	if pages != 4 {
		t.Errorf("10 parked events in %d pages of 3, want 4", pages)
	}
	if want := []int64{2, 5, 8, 11, 14, 17, 20, 23, 26, 29}; !slices.Equal(parkedSeqs(parked), want) {
		t.Fatalf("parked %v, want %v", parkedSeqs(parked), want)
	}
	first := parked[0]
	if first.Error != "cannot apply b" || first.Attempts != consumer.DefaultAttempts ||
		first.Consumer != name || first.Source != "trip" || first.ParkedAt.IsZero() {
		t.Errorf("first parked event: %v", first)
	}
	if v, _ := handlerCalls.Load(int64(2)); v.(*atomic.Int64).Load() != consumer.DefaultAttempts {
		t.Errorf("the failing event was tried %d times, want %d", v.(*atomic.Int64).Load(), consumer.DefaultAttempts)
	}
	for _, p := range parked[1:] {
		if p.Error != "" || p.Attempts != 0 {
			t.Errorf("event %d parked behind the first: error %q, attempts %d; want none", p.Event.GetSequence(), p.Error, p.Attempts)
		}
		if _, called := handlerCalls.Load(p.Event.GetSequence()); called {
			t.Errorf("the handler ran for event %d, parked behind a failing one", p.Event.GetSequence())
		}
	}
	if ev := first.Event; ev.GetId() != src.events[1].GetId() || ev.GetPayload() == nil || ev.GetOccurredTime() == nil || ev.GetType() != "shop.item.changed" {
		t.Errorf("parked event lost fields: %v", ev)
	}

	// A replay while the handler still fails records the new error and stops the key.
	resp, err := parking.Replay(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Replayed != 0 || resp.Failed != 1 {
		t.Errorf("replay while broken: %v, want 0 replayed, 1 failed", resp)
	}
	again, _ := listAll(t, parking, name, 100)
	if len(again) != 10 || again[0].Attempts != consumer.DefaultAttempts+1 || again[1].Attempts != 0 {
		t.Errorf("after a failed replay: %d parked, attempts %d and %d", len(again), again[0].Attempts, again[1].Attempts)
	}

	// Replaying a later event alone would break the key's order: it stays parked.
	broken.set("b", false)
	resp, err = parking.Replay(t.Context(), "", []int64{parked[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Replayed != 0 || len(appliedSeqs(t, pool, name, "b")) != 0 {
		t.Fatalf("replayed event %d ahead of event %d of its key", parked[1].Event.GetSequence(), parked[0].Event.GetSequence())
	}

	// After the fix, a replay applies them in order and empties the queue; new events of
	// the key flow again.
	resp, err = parking.Replay(t.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Replayed != 10 || resp.Failed != 0 {
		t.Errorf("replay after the fix: %v, want 10 replayed", resp)
	}
	if got, want := appliedSeqs(t, pool, name, "b"), parkedSeqs(parked); !slices.Equal(got, want) {
		t.Errorf("key b applied %v, want %v in that order", got, want)
	}
	if rest, _ := listAll(t, parking, "", 100); len(rest) != 0 {
		t.Errorf("%d events still parked after the replay", len(rest))
	}
	src.add("b", "a")
	grpctest.Eventually(t, 10*time.Second, "new events applied", func() bool { return cursorSeq(t, pool, name, "trip") == 32 })
	if got := appliedSeqs(t, pool, name, "b"); got[len(got)-1] != 31 {
		t.Errorf("key b: the new event was not applied live: %v", got)
	}
	checkExactlyOnce(t, pool, name, 32)

	// Discard removes parked events without applying them.
	broken.set("c", true)
	src.add("c", "c", "a")
	grpctest.Eventually(t, 10*time.Second, "new events processed", func() bool { return cursorSeq(t, pool, name, "trip") == 35 })
	parked, _ = listAll(t, parking, name, 10)
	if !slices.Equal(parkedSeqs(parked), []int64{33, 34}) {
		t.Fatalf("parked %v, want [33 34]", parkedSeqs(parked))
	}
	discarded, err := parking.Discard(t.Context(), []int64{parked[0].ID, parked[1].ID, 999999})
	if err != nil {
		t.Fatal(err)
	}
	if discarded != 2 {
		t.Errorf("discarded %d, want 2", discarded)
	}
	if rest, _ := listAll(t, parking, "", 100); len(rest) != 0 {
		t.Errorf("%d events still parked after the discard", len(rest))
	}
	if got := appliedSeqs(t, pool, name, "c"); slices.Contains(got, 33) || slices.Contains(got, 34) {
		t.Errorf("discarded events were applied: %v", got)
	}
}

// Parked events of several consumers: List filters by consumer; an all-replay skips
// consumers the server has no handler for; Replay by id of such a consumer fails with
// FAILED_PRECONDITION and changes nothing.
func TestReplayAcrossConsumers(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	for _, c := range []string{"one", "two", "orphan"} {
		for seq := 1; seq <= 3; seq++ {
			_, err := pool.Exec(t.Context(), `INSERT INTO parked_events (consumer, source, seq, event_id, type, key, error, attempts)
				VALUES ($1, 'trip', $2, $3, 'shop.item.changed', 'k', 'boom', 5)`, c, seq, newID())
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	handler := func(name string) consumer.Handler {
		return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
			return recordEffect(ctx, tx, name, ev)
		}
	}
	parking := consumer.NewParking(pool, map[string]consumer.Handler{"one": handler("one"), "two": handler("two")}, consumer.ParkingOptions{})

	if got, _ := listAll(t, parking, "two", 100); len(got) != 3 {
		t.Errorf("consumer two: %d parked, want 3", len(got))
	}
	orphans, _ := listAll(t, parking, "orphan", 100)
	_, err := parking.Replay(t.Context(), "", []int64{orphans[0].ID, orphans[1].ID})
	if !errors.Is(err, &errs.Error{Kind: errs.FailedPrecondition, Reason: consumer.ReasonNoHandler}) {
		t.Errorf("replay of a consumer without handler: %v, want FAILED_PRECONDITION %s", err, consumer.ReasonNoHandler)
	}
	for _, tc := range []struct {
		consumer string
		ids      []int64
	}{{"nobody", nil}, {"orphan", nil}, {"one", parkedIDs(orphans)}} {
		_, err := parking.Replay(t.Context(), tc.consumer, tc.ids)
		if e, ok := errs.As(err); !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != "consumer" {
			t.Errorf("replay of consumer %q, ids %v: %v, want INVALID_ARGUMENT naming consumer", tc.consumer, tc.ids, err)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM parked_events`); n != 9 {
		t.Fatalf("rejected replays changed the queue: %d parked, want 9", n)
	}
	resp, err := parking.Replay(t.Context(), "one", nil)
	if err != nil || resp.Replayed != 3 {
		t.Fatalf("replay of consumer one: %v, %v", resp, err)
	}
	resp, err = parking.Replay(t.Context(), "", nil)
	if err != nil || resp.Replayed != 3 {
		t.Fatalf("replay of all: %v, %v; want 3 (consumer two's)", resp, err)
	}
	if got, _ := listAll(t, parking, "", 100); len(got) != 3 || got[0].Consumer != "orphan" {
		t.Errorf("left parked: %d, want orphan's 3", len(got))
	}
	if n := count(t, pool, `SELECT count(*) FROM effects`); n != 6 {
		t.Errorf("%d effects, want 6", n)
	}
}

// Events without a key wait for nothing: a replay goes on past a failing one, and the
// live consumer does not park keyless events behind a parked one.
func TestKeylessEventsDoNotWait(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const name = "keyless"
	var failing atomic.Int64 // the sequence that fails
	failing.Store(2)
	handler := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if ev.GetSequence() == failing.Load() {
			return errors.New("poison")
		}
		return recordEffect(ctx, tx, name, ev)
	}
	parking := consumer.NewParking(pool, map[string]consumer.Handler{name: handler}, consumer.ParkingOptions{})
	runConsumer(t, consumer.Config{Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t), Retry: quick}, handler)
	src.add("", "", "", "")
	grpctest.Eventually(t, 10*time.Second, "events processed", func() bool { return cursorSeq(t, pool, name, "trip") == 4 })
	parked, _ := listAll(t, parking, name, 10)
	if !slices.Equal(parkedSeqs(parked), []int64{2}) {
		t.Fatalf("parked %v, want only the failing event 2", parkedSeqs(parked))
	}

	// Park two more keyless events by hand, the first of which fails on replay.
	for _, seq := range []int64{5, 6} {
		_, err := pool.Exec(t.Context(), `INSERT INTO parked_events (consumer, source, seq, event_id, type, key, error, attempts)
			VALUES ($1, 'trip', $2, $3, 'shop.item.changed', '', 'boom', 5)`, name, seq, newID())
		if err != nil {
			t.Fatal(err)
		}
	}
	failing.Store(5)
	resp, err := parking.Replay(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Replayed != 2 || resp.Failed != 1 {
		t.Errorf("replay: %v, want 2 replayed (2 and 6) and 1 failed (5)", resp)
	}
	if parked, _ := listAll(t, parking, name, 10); !slices.Equal(parkedSeqs(parked), []int64{5}) {
		t.Errorf("left parked %v, want [5]", parkedSeqs(parked))
	}
}
