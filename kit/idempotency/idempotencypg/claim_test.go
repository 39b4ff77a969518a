package idempotencypg_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// The transactions the package is used with all satisfy Querier.
var (
	_ idempotencypg.Querier = pgx.Tx(nil)
	_ idempotencypg.Querier = (*txn.Tx)(nil)
	_ idempotencypg.Querier = (*pgxpool.Pool)(nil)
	_ idempotencypg.Querier = txn.Querier(nil)
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const schema = "shop"

// migrations is the kit's table plus a table of things the mutations create, as a
// service combines them.
func migrations() fs.FS {
	return pgxutil.MustMergeMigrations(idempotencypg.Migrations, fstest.MapFS{"0001_item.sql": {Data: []byte(
		"CREATE TABLE item (id text PRIMARY KEY, owner text NOT NULL DEFAULT '');")}})
}

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a fresh database and Keys on a test clock.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	clock *clock
	keys  *idempotencypg.Keys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	c := &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	return &fixture{t: t, pool: pgtest.NewDB(t, schema, migrations()), clock: c,
		keys: idempotencypg.New(idempotencypg.Options{Now: c.Now})}
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.t.Context(), query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (f *fixture) items() int { return f.count("SELECT count(*) FROM item") }
func (f *fixture) keyRows() int {
	return f.count("SELECT count(*) FROM idempotency_keys")
}

// create is a database-only mutation guarded by k: in one transaction (run again after a
// CONFLICT, as the transaction helpers do), it inserts item id and returns it as its
// result. runs counts the executions of the change.
func (f *fixture) create(ctx context.Context, k idempotency.Key, id string, runs *int) (string, bool, error) {
	var out string
	var replayed bool
	err := pgxutil.Retry(ctx, 3, func() error {
		return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
			var err error
			out, replayed, err = idempotencypg.Do(ctx, f.keys, tx, k, func() (string, error) {
				if runs != nil {
					*runs++
				}
				_, err := tx.Exec(ctx, "INSERT INTO item (id, owner) VALUES ($1, $2)", id, k.Subject)
				return id, err
			})
			return err
		})
	})
	return out, replayed, err
}

func key(subject, requestID string, params ...string) idempotency.Key {
	return idempotency.Key{Method: "CreateItem", Subject: subject, RequestID: requestID,
		Hash: idempotency.Fingerprint(params...)}
}

// wantErr checks err's kind, reason and (for InvalidArgument) field.
func wantErr(t *testing.T, err error, kind errs.Kind, reason, field string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok {
		t.Fatalf("error %v carries no *errs.Error, want %s %s", err, kind, reason)
	}
	if e.Kind != kind || e.ReasonOrKind() != reason {
		t.Fatalf("error %v is %s %s, want %s %s", err, e.Kind, e.ReasonOrKind(), kind, reason)
	}
	if field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != field) {
		t.Fatalf("error %v names fields %+v, want %s", err, e.Fields, field)
	}
}

func TestFirstCallRunsAndRetryReplays(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("alice", "req-1", "item", "10")
	runs := 0
	got, replayed, err := f.create(ctx, k, "item-1", &runs)
	if err != nil || got != "item-1" || replayed {
		t.Fatalf("first call = %q, %v, %v; want item-1, false, nil", got, replayed, err)
	}
	// The retry would create item-2 if it ran; it answers with the first result.
	got, replayed, err = f.create(ctx, k, "item-2", &runs)
	if err != nil || got != "item-1" || !replayed {
		t.Fatalf("retry = %q, %v, %v; want item-1, true, nil", got, replayed, err)
	}
	if runs != 1 || f.items() != 1 {
		t.Errorf("the change ran %d times and made %d items, want 1 and 1", runs, f.items())
	}
}

func TestSameKeyOtherParametersIsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, _, err := f.create(ctx, key("alice", "req-1", "item", "10"), "item-1", nil); err != nil {
		t.Fatal(err)
	}
	runs := 0
	_, _, err := f.create(ctx, key("alice", "req-1", "item", "11"), "item-2", &runs)
	wantErr(t, err, errs.InvalidArgument, idempotency.ReasonRequestIDReused, "request_id")
	if !errors.Is(err, idempotency.ErrRequestIDReused) {
		t.Errorf("errors.Is(%v, ErrRequestIDReused) = false", err)
	}
	if runs != 0 || f.items() != 1 {
		t.Errorf("the refused call ran %d times; %d items", runs, f.items())
	}
	// Lookup refuses it too, and finds the first result for the right parameters.
	_, _, err = f.keys.Lookup(ctx, f.pool, key("alice", "req-1", "item", "11"))
	wantErr(t, err, errs.InvalidArgument, idempotency.ReasonRequestIDReused, "request_id")
	res, found, err := f.keys.Lookup(ctx, f.pool, key("alice", "req-1", "item", "10"))
	if err != nil || !found || string(res) != `"item-1"` {
		t.Errorf("Lookup = %s, %v, %v; want \"item-1\", true, nil", res, found, err)
	}
	if _, found, err := f.keys.Lookup(ctx, f.pool, key("alice", "req-2")); err != nil || found {
		t.Errorf("Lookup of an unused key = %v, %v; want false, nil", found, err)
	}
}

// TestScopeIsolation: the same request id from two subjects, or for two methods, are two
// keys.
func TestScopeIsolation(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for i, k := range []idempotency.Key{
		key("alice", "req-1", "same"),
		key("bob", "req-1", "same"),
		{Method: "RenameItem", Subject: "alice", RequestID: "req-1", Hash: idempotency.Fingerprint("same")},
	} {
		id := fmt.Sprintf("item-%d", i)
		got, replayed, err := f.create(ctx, k, id, nil)
		if err != nil || got != id || replayed {
			t.Errorf("%+v = %q, %v, %v; want %s, a first call", k, got, replayed, err, id)
		}
	}
	if f.items() != 3 || f.keyRows() != 3 {
		t.Errorf("%d items and %d keys, want 3 and 3", f.items(), f.keyRows())
	}
}

// TestRetryWhileInFlightIsAborted: a retry while the first call's transaction is open is
// ABORTED at once, without waiting for it; after the first commits, the retry replays.
func TestRetryWhileInFlightIsAborted(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("alice", "req-1", "p")
	first, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx)
	c, err := f.keys.Begin(ctx, first, k)
	if err != nil || c.Replayed {
		t.Fatalf("Begin = %+v, %v", c, err)
	}
	if _, err := first.Exec(ctx, "INSERT INTO item (id) VALUES ('item-1')"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	runs := 0
	_, _, err = f.create(ctx, k, "item-2", &runs)
	wantErr(t, err, errs.Aborted, idempotency.ReasonRequestInProgress, "")
	if !errors.Is(err, idempotency.ErrRequestInProgress) {
		t.Errorf("errors.Is(%v, ErrRequestInProgress) = false", err)
	}
	if d := time.Since(start); d > 2*time.Second || runs != 0 {
		t.Errorf("the retry took %v and ran %d times; want no wait, no run", d, runs)
	}

	if err := c.Complete(ctx, first, []byte(`"item-1"`)); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, replayed, err := f.create(ctx, k, "item-2", &runs)
	if err != nil || got != "item-1" || !replayed || runs != 0 {
		t.Fatalf("retry after commit = %q, %v, %v (ran %d); want the replay of item-1", got, replayed, err, runs)
	}
}

// TestConcurrentFirstCalls: of many simultaneous first calls with one key, exactly one
// change commits; every other call replays its result or is ABORTED
// (REQUEST_IN_PROGRESS), at every isolation level.
func TestConcurrentFirstCalls(t *testing.T) {
	for _, iso := range []pgx.TxIsoLevel{pgx.ReadCommitted, pgx.RepeatableRead, pgx.Serializable} {
		t.Run(string(iso), func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			const callers = 12
			for round := range 5 {
				k := key("alice", fmt.Sprintf("req-%d", round), "p")
				var (
					wg                         sync.WaitGroup
					mu                         sync.Mutex
					firsts, replays, inFlights int
					results                    = map[string]bool{}
				)
				start := make(chan struct{})
				for i := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						id := fmt.Sprintf("item-%d-%d", round, i)
						var got string
						var replayed bool
						err := pgxutil.Retry(ctx, 10, func() error {
							return pgx.BeginTxFunc(ctx, f.pool, pgx.TxOptions{IsoLevel: iso}, func(tx pgx.Tx) error {
								var err error
								got, replayed, err = idempotencypg.Do(ctx, f.keys, tx, k, func() (string, error) {
									_, err := tx.Exec(ctx, "INSERT INTO item (id) VALUES ($1)", id)
									return id, err
								})
								return err
							})
						})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case errors.Is(err, idempotency.ErrRequestInProgress):
							inFlights++
						case err != nil:
							t.Errorf("call %d: %v", i, err)
						case replayed:
							replays++
							results[got] = true
						default:
							firsts++
							results[got] = true
						}
					}()
				}
				close(start)
				wg.Wait()
				if firsts != 1 || len(results) != 1 {
					t.Errorf("round %d: %d first calls, results %v; want exactly one first call and one result", round, firsts, results)
				}
				if n := f.count("SELECT count(*) FROM item WHERE id LIKE $1", fmt.Sprintf("item-%d-%%", round)); n != 1 {
					t.Errorf("round %d: %d items committed, want 1", round, n)
				}
				t.Logf("round %d: 1 first call, %d replays, %d in progress", round, replays, inFlights)
			}
		})
	}
}

// TestSnapshotBeforeTheFirstCommit: a REPEATABLE READ transaction whose snapshot predates
// the first call's commit cannot see its key; its write fails with ABORTED CONFLICT, which
// the transaction helpers retry, and the retry replays.
func TestSnapshotBeforeTheFirstCommit(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("alice", "req-1", "p")
	late, err := f.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx)
	if _, err := late.Exec(ctx, "SELECT 1"); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	if _, _, err := f.create(ctx, k, "item-1", nil); err != nil {
		t.Fatal(err)
	}
	c, err := f.keys.Begin(ctx, late, k)
	if err != nil || c.Replayed {
		t.Fatalf("Begin in the old snapshot = %+v, %v; want a fresh claim (the key is invisible)", c, err)
	}
	err = c.Complete(ctx, late, []byte(`"item-2"`))
	wantErr(t, err, errs.Aborted, pgxutil.ReasonConflict, "")
	_ = late.Rollback(ctx)

	// The same call through a retrying helper replays.
	got, replayed, err := f.create(ctx, k, "item-2", nil)
	if err != nil || !replayed || got != "item-1" {
		t.Fatalf("retry = %q, %v, %v; want the replay of item-1", got, replayed, err)
	}
}

// TestCompleteAfterAConcurrentCommitAborts: when the key appears, committed, between a
// READ COMMITTED transaction's claim and its completion, the completion fails the
// transaction itself, so its change cannot commit without its key, however the caller
// reads the batch that carried it.
func TestCompleteAfterAConcurrentCommitAborts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, queued := range []bool{false, true} {
		k := key("alice", fmt.Sprintf("req-%v", queued), "p")
		tx, err := f.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		c, err := f.keys.Begin(ctx, tx, k)
		if err != nil || c.Replayed {
			t.Fatalf("Begin = %+v, %v", c, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO item (id) VALUES ($1)", k.RequestID); err != nil {
			t.Fatal(err)
		}
		// Another call's key, committed meanwhile (as only a race at the lock can).
		if _, err := f.pool.Exec(ctx, `INSERT INTO idempotency_keys (method, subject, request_id, request_hash, completed, result, create_time)
			VALUES ($1, $2, $3, $4, true, '"other"', $5)`, k.Method, k.Subject, k.RequestID, k.Hash, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if queued {
			b := &pgx.Batch{}
			if err := c.QueueComplete(b, []byte(`"mine"`)); err != nil {
				t.Fatal(err)
			}
			br := tx.SendBatch(ctx, b)
			_, err = br.Exec() // read by hand: no callback sees the result
			br.Close()
		} else {
			err = c.Complete(ctx, tx, []byte(`"mine"`))
		}
		wantErr(t, pgxutil.MapError(err), errs.Aborted, pgxutil.ReasonConflict, "")
		if err := tx.Commit(ctx); err == nil {
			t.Error("the transaction committed after its completion failed")
		}
		_ = tx.Rollback(ctx)
	}
	if f.items() != 0 {
		t.Errorf("%d items committed without their keys", f.items())
	}
}

// TestRolledBackChangeLeavesNoKey: the key is written in the change's transaction, so a
// change that fails, or a transaction rolled back after it, leaves no key, and a retry
// runs.
func TestRolledBackChangeLeavesNoKey(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("alice", "req-1", "p")
	failed := errs.Precondition("OUT_OF_STOCK", "no stock")
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		_, _, err := idempotencypg.Do(ctx, f.keys, tx, k, func() (string, error) { return "", failed })
		return err
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Do = %v, want fn's error unchanged", err)
	}
	// fn succeeded and the result was stored, then the transaction failed.
	boom := errors.New("later statement failed")
	err = pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if _, _, err := idempotencypg.Do(ctx, f.keys, tx, k, func() (string, error) { return "item-1", nil }); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := f.keyRows(); n != 0 {
		t.Fatalf("%d keys after rolled-back changes, want 0", n)
	}
	runs := 0
	if got, replayed, err := f.create(ctx, k, "item-1", &runs); err != nil || replayed || got != "item-1" || runs != 1 {
		t.Fatalf("retry = %q, %v, %v (ran %d); want a first call", got, replayed, err, runs)
	}
}

// TestExpiredKeyIsReusable: after the TTL a key runs again (even with other parameters),
// and Prune deletes expired keys only.
func TestExpiredKeyIsReusable(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, _, err := f.create(ctx, key("alice", "old", "p"), "item-1", nil); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(idempotency.DefaultTTL - time.Second)
	if _, replayed, err := f.create(ctx, key("alice", "old", "p"), "item-x", nil); err != nil || !replayed {
		t.Fatalf("just before the TTL: replayed %v, %v; want a replay", replayed, err)
	}
	if _, _, err := f.create(ctx, key("alice", "young", "p"), "item-2", nil); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Second)
	got, replayed, err := f.create(ctx, key("alice", "old", "other"), "item-3", nil)
	if err != nil || replayed || got != "item-3" {
		t.Fatalf("after the TTL = %q, %v, %v; want a first call", got, replayed, err)
	}
	if got, replayed, _ := f.create(ctx, key("alice", "old", "other"), "item-4", nil); !replayed || got != "item-3" {
		t.Fatalf("the reused key replays %q (replayed %v), want item-3", got, replayed)
	}
	// The BeginWith path reuses an expired key too.
	f.clock.Advance(idempotency.DefaultTTL + time.Second)
	err = pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		c, err := f.keys.BeginWith(ctx, tx, key("alice", "old", "third"), []byte("5"))
		if err == nil && c.Replayed {
			err = errors.New("replayed an expired key")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// "young" (created a day before the last claim of "old") has expired; "old" has not.
	n, err := f.keys.Prune(ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || f.count("SELECT count(*) FROM idempotency_keys WHERE request_id = 'young'") != 0 || f.keyRows() != 1 {
		t.Errorf("Prune deleted %d; keys left %d; want only young deleted", n, f.keyRows())
	}
}

// TestBeginWithAndBatches: a result known beforehand is stored by the claim itself, and
// claims can ride in the batches a transaction sends.
func TestBeginWithAndBatches(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("alice", "hold-1", "seat", "2")

	// hold is a pipelined mutation: the claim with its result, then the change, in one
	// batch; a claim that is not fresh rolls the change back.
	errReplay := errors.New("replay")
	hold := func(id string) (*idempotencypg.Claim, error) {
		var c *idempotencypg.Claim
		err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			q := f.keys.QueueWith(b, k, []byte(id))
			b.Queue("INSERT INTO item (id) VALUES ($1)", id)
			br := tx.SendBatch(ctx, b)
			defer br.Close()
			var err error
			if c, err = q.Read(br); err != nil {
				return err
			}
			if _, err := br.Exec(); err != nil {
				return err
			}
			if c.Replayed {
				return errReplay
			}
			return br.Close()
		})
		if errors.Is(err, errReplay) {
			err = nil
		}
		return c, err
	}
	c, err := hold("item-1")
	if err != nil || c.Replayed {
		t.Fatalf("first hold = %+v, %v", c, err)
	}
	c, err = hold("item-2")
	if err != nil || !c.Replayed || string(c.Result) != "item-1" {
		t.Fatalf("retried hold = %+v, %v; want the replay of item-1", c, err)
	}
	if f.items() != 1 {
		t.Errorf("%d items, want 1: the replay's change must roll back", f.items())
	}
	if err := c.Complete(ctx, f.pool, nil); err == nil {
		t.Error("Complete of a replayed claim succeeded")
	}

	// Queue, then QueueComplete in the batch that ends the transaction.
	k2 := key("alice", "rename-1", "x")
	for i := range 2 {
		var replayed bool
		err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			q := f.keys.Queue(b, k2)
			br := tx.SendBatch(ctx, b)
			c, err := q.Read(br)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil || c.Replayed {
				replayed = c != nil && c.Replayed
				return err
			}
			b = &pgx.Batch{}
			b.Queue("INSERT INTO item (id) VALUES ('renamed')")
			if err := c.QueueComplete(b, []byte("ok")); err != nil {
				return err
			}
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil || replayed != (i == 1) {
			t.Fatalf("call %d: replayed %v, %v", i, replayed, err)
		}
	}

	// A keyless call claims nothing and stores nothing.
	for i := range 2 {
		id := fmt.Sprintf("keyless-%d", i)
		if got, replayed, err := f.create(ctx, key("alice", ""), id, nil); err != nil || replayed || got != id {
			t.Fatalf("keyless call = %q, %v, %v", got, replayed, err)
		}
	}
	if n := f.count("SELECT count(*) FROM idempotency_keys WHERE request_id = ''"); n != 0 {
		t.Errorf("%d keyless keys stored", n)
	}
}

// TestWithTxnRunner: kit/txn's Tx is a Querier, and its retry of CONFLICT turns a lost
// race into a replay.
func TestWithTxnRunner(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	runner := txn.New(f.pool, txn.Options{})
	k := key("alice", "req-1", "p")
	var results []string
	for i := range 2 {
		err := runner.Run(ctx, func(tx *txn.Tx) error {
			id, _, err := idempotencypg.Do(ctx, f.keys, tx, k, func() (string, error) {
				id := fmt.Sprintf("item-%d", i)
				_, err := tx.Exec(ctx, "INSERT INTO item (id) VALUES ($1)", id)
				return id, err
			})
			results = append(results, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(results, ",") != "item-0,item-0" || f.items() != 1 {
		t.Errorf("results %v, %d items; want item-0 twice, one item", results, f.items())
	}
}

// TestMalformedKeys: a request id too long for the table is the caller's mistake; a key
// without its scope is the program's.
func TestMalformedKeys(t *testing.T) {
	ks := idempotencypg.New(idempotencypg.Options{})
	ctx := t.Context()
	long := key("alice", strings.Repeat("k", idempotency.MaxRequestID+1))
	_, err := ks.Begin(ctx, nil, long)
	wantErr(t, err, errs.InvalidArgument, "INVALID_ARGUMENT", "request_id")
	_, err = ks.Acquire(ctx, nil, long, nil)
	wantErr(t, err, errs.InvalidArgument, "INVALID_ARGUMENT", "request_id")
	b := &pgx.Batch{}
	q := ks.QueueWith(b, long, nil)
	_, err = q.Read(nil)
	wantErr(t, err, errs.InvalidArgument, "INVALID_ARGUMENT", "request_id")
	if b.Len() != 0 {
		t.Errorf("a malformed key queued %d statements", b.Len())
	}
	for _, k := range []idempotency.Key{{Method: "M", RequestID: "r"}, {Subject: "s", RequestID: "r"}} {
		if _, err := ks.Begin(ctx, nil, k); err == nil || errs.KindOf(err) != errs.Unknown {
			t.Errorf("Begin(%+v) = %v, want a programming error", k, err)
		}
	}
}
