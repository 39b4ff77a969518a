package txn_test

import (
	"context"
	"errors"
	"io/fs"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const schema = "shop"

// migrations is the outbox's tables plus a table of aggregates, as a service combines
// them.
func migrations() fs.FS {
	return pgxutil.MustMergeMigrations(outbox.Migrations, fstest.MapFS{"0001_item.sql": {Data: []byte(
		"CREATE TABLE item (id text PRIMARY KEY, n int NOT NULL DEFAULT 0 CHECK (n >= 0));" +
			"INSERT INTO item (id) VALUES ('a'), ('b');")}})
}

// fixture is a fresh database with a Runner on a pool of one connection (so a
// connection left in a transaction, or not returned, shows in the next Run) and a
// second pool to look from outside.
type fixture struct {
	t        *testing.T
	runner   *txn.Runner
	pool     *pgxpool.Pool // the runner's
	other    *pgxpool.Pool
	notified atomic.Int32
	// onNotify, when set, runs inside Notify.
	onNotify func()
}

func newFixture(t *testing.T, o txn.Options) *fixture {
	t.Helper()
	t.Parallel()
	url := pgtest.NewURL(t, pgtest.Schemas{schema: migrations()})
	connect := func(maxConns int32) *pgxpool.Pool {
		pool, err := pgxutil.Connect(t.Context(), url, pgxutil.PoolConfig{Schema: schema, MaxConns: maxConns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Close waits for every acquired connection: a connection the runner failed
			// to return would hang the test, not fail it. Dropping the database ends it.
			if pool.Stat().AcquiredConns() == 0 {
				pool.Close()
			}
		})
		return pool
	}
	f := &fixture{t: t, pool: connect(1), other: connect(4)}
	o.Notify = func() {
		f.notified.Add(1)
		if f.onNotify != nil {
			f.onNotify()
		}
	}
	f.runner = txn.New(f.pool, o)
	return f
}

// run is Runner.Run with a deadline, so that a connection the runner failed to return
// fails the test instead of hanging it.
func (f *fixture) run(fn func(tx *txn.Tx) error) error {
	ctx, cancel := context.WithTimeout(f.t.Context(), 20*time.Second)
	defer cancel()
	err := f.runner.Run(ctx, fn)
	if n := f.pool.Stat().AcquiredConns(); n != 0 {
		f.t.Errorf("after Run, %d connections are still acquired", n)
	}
	return err
}

func (f *fixture) count(query string) int {
	f.t.Helper()
	var n int
	if err := f.other.QueryRow(f.t.Context(), query).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// n is item id's counter, read from outside.
func (f *fixture) n(id string) int {
	f.t.Helper()
	var n int
	if err := f.other.QueryRow(f.t.Context(), "SELECT n FROM item WHERE id = $1", id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) events() []string {
	f.t.Helper()
	rows, err := f.other.Query(f.t.Context(), "SELECT type || ':' || key FROM outbox ORDER BY id")
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) want(n int, events ...string) {
	f.t.Helper()
	if got := f.n("a"); got != n {
		f.t.Errorf("item a's n = %d, want %d", got, n)
	}
	got := f.events()
	if len(got) != len(events) {
		f.t.Fatalf("outbox = %q, want %q", got, events)
	}
	for i := range got {
		if got[i] != events[i] {
			f.t.Fatalf("outbox = %q, want %q", got, events)
		}
	}
}

const bump = "UPDATE item SET n = n + 1 WHERE id = $1"

func added(key string) outbox.Event { return outbox.Event{Type: "shop.item.added", Key: key} }

func TestCommitWritesChangeAndEvents(t *testing.T) {
	f := newFixture(t, txn.Options{})
	f.onNotify = func() {
		// Notify comes after the commit: the events are visible from outside.
		if got := f.count("SELECT count(*) FROM outbox"); got != 2 {
			t.Errorf("in Notify, the outbox holds %d events, want 2", got)
		}
	}
	err := f.run(func(tx *txn.Tx) error {
		if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
			return err
		}
		tx.Emit(added("a"))
		if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
			return err
		}
		tx.Emit(added("a2"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.want(2, "shop.item.added:a", "shop.item.added:a2")
	if got := f.notified.Load(); got != 1 {
		t.Errorf("Notify ran %d times, want 1", got)
	}
}

func TestNotifyOnlyAfterACommitThatEmitted(t *testing.T) {
	f := newFixture(t, txn.Options{})
	// A change without events.
	if err := f.run(func(tx *txn.Tx) error { _, err := tx.Exec(t.Context(), bump, "a"); return err }); err != nil {
		t.Fatal(err)
	}
	// Events, but fn fails.
	_ = f.run(func(tx *txn.Tx) error {
		tx.Emit(added("a"))
		_, err := tx.Exec(t.Context(), bump, "a")
		return errors.Join(err, errors.New("changed my mind"))
	})
	// A read.
	if err := f.run(func(tx *txn.Tx) error {
		var n int
		return tx.QueryRow(t.Context(), "SELECT n FROM item WHERE id = 'a'").Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.notified.Load(); got != 0 {
		t.Fatalf("Notify ran %d times, want 0", got)
	}
	f.want(1)
}

func TestErrorRollsBackAndComesBackUnchanged(t *testing.T) {
	f := newFixture(t, txn.Options{})
	domain := errs.Precondition("ITEM_SOLD", "item a is sold")
	sentinel := errors.New("plain")
	for _, want := range []error{domain, sentinel} {
		err := f.run(func(tx *txn.Tx) error {
			if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
				return err
			}
			tx.Emit(added("a"))
			return want
		})
		if err != want {
			t.Errorf("Run = %v, want fn's error unchanged (%v)", err, want)
		}
	}
	f.want(0)
	if got := f.notified.Load(); got != 0 {
		t.Errorf("Notify ran %d times, want 0", got)
	}
}

func TestPanicRollsBackAndContinues(t *testing.T) {
	f := newFixture(t, txn.Options{})
	for _, name := range []string{"after a statement", "with a batch open"} {
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("%s: recovered %v, want the panic to continue", name, r)
				}
			}()
			_ = f.run(func(tx *txn.Tx) error {
				tx.Emit(added("a"))
				if name == "with a batch open" {
					// The panic leaves the batch's results unread: the connection is
					// busy and must be closed, not reused.
					b := &pgx.Batch{}
					b.Queue(bump, "a")
					b.Queue("SELECT pg_sleep(0.05)")
					_ = tx.SendBatch(t.Context(), b)
					panic("boom")
				}
				if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
	}
	f.want(0)
	// The pool's one connection is usable again.
	if err := f.run(func(tx *txn.Tx) error { _, err := tx.Exec(t.Context(), bump, "b"); return err }); err != nil {
		t.Fatal(err)
	}
	if got := f.n("b"); got != 1 {
		t.Errorf("item b's n = %d, want 1", got)
	}
}

// TestRetriesAConflictInFn: an UPDATE of a row that a transaction committed after this
// one's snapshot fails with a serialization failure at repeatable read; Run runs fn
// again, and only the second attempt's change and events are committed.
func TestRetriesAConflictInFn(t *testing.T) {
	f := newFixture(t, txn.Options{})
	attempts := 0
	err := f.run(func(tx *txn.Tx) error {
		attempts++
		if _, err := tx.Exec(t.Context(), "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(t.Context(), "SELECT n FROM item WHERE id = 'a'").Scan(&n); err != nil {
			return err
		}
		if attempts == 1 {
			if _, err := f.other.Exec(t.Context(), "UPDATE item SET n = n + 10 WHERE id = 'a'"); err != nil {
				t.Fatal(err)
			}
		}
		tx.Emit(added("a"))
		_, err := tx.Exec(t.Context(), "UPDATE item SET n = $1 + 1 WHERE id = 'a'", n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("fn ran %d times, want 2", attempts)
	}
	f.want(11, "shop.item.added:a")
	if got := f.notified.Load(); got != 1 {
		t.Errorf("Notify ran %d times, want 1", got)
	}
}

// TestRetriesAConflictAtCommit: write skew between two serializable transactions; the
// one that commits second fails at its COMMIT (sent in one batch with the outbox
// insert), and Run runs it again.
func TestRetriesAConflictAtCommit(t *testing.T) {
	f := newFixture(t, txn.Options{})
	attempts, fnDone := 0, 0
	err := f.run(func(tx *txn.Tx) error {
		attempts++
		b := &pgx.Batch{}
		b.Queue("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
		b.Queue("SELECT sum(n) FROM item WHERE id = 'b'")
		b.Queue("UPDATE item SET n = n + 1 WHERE id = 'a'")
		if err := tx.SendBatch(t.Context(), b).Close(); err != nil {
			return err
		}
		if attempts == 1 {
			// The other transaction reads what this one wrote and writes what this one
			// read, and commits first.
			err := pgx.BeginTxFunc(t.Context(), f.other, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(o pgx.Tx) error {
				if _, err := o.Exec(t.Context(), "SELECT sum(n) FROM item WHERE id = 'a'"); err != nil {
					return err
				}
				_, err := o.Exec(t.Context(), "UPDATE item SET n = n + 1 WHERE id = 'b'")
				return err
			})
			if err != nil {
				t.Fatalf("the other transaction: %v", err)
			}
		}
		tx.Emit(added("a"))
		fnDone++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || fnDone != 2 {
		t.Errorf("fn ran %d times and returned nil %d times, want 2 and 2 (a failed commit)", attempts, fnDone)
	}
	f.want(1, "shop.item.added:a")
	if got := f.n("b"); got != 1 {
		t.Errorf("item b's n = %d, want 1", got)
	}
}

func TestConflictWithoutRetriesIsMapped(t *testing.T) {
	f := newFixture(t, txn.Options{MaxRetries: -1})
	attempts := 0
	err := f.run(func(tx *txn.Tx) error {
		attempts++
		if _, err := tx.Exec(t.Context(), "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return err
		}
		if err := tx.QueryRow(t.Context(), "SELECT 1").Scan(new(int)); err != nil {
			return err
		}
		if _, err := f.other.Exec(t.Context(), bump, "a"); err != nil {
			t.Fatal(err)
		}
		_, err := tx.Exec(t.Context(), bump, "a")
		return err
	})
	if attempts != 1 {
		t.Errorf("fn ran %d times, want 1", attempts)
	}
	if e, ok := errs.As(err); !ok || e.Kind != errs.Aborted || e.Reason != pgxutil.ReasonConflict {
		t.Errorf("Run = %v, want ABORTED %s", err, pgxutil.ReasonConflict)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "40001" {
		t.Errorf("Run = %v, want the PostgreSQL error kept in the chain", err)
	}
}

// TestErrorsInPipelinedBatchesSurface: a failing statement is reported whether it went
// out with BEGIN or later, alone or within a batch, by Exec, QueryRow, Query or
// SendBatch; Run returns it mapped, and nothing is written.
func TestErrorsInPipelinedBatchesSurface(t *testing.T) {
	f := newFixture(t, txn.Options{})
	const dup = "INSERT INTO item (id) VALUES ('a')"
	const negative = "UPDATE item SET n = -1 WHERE id = $1"
	cases := []struct {
		name string
		fn   func(ctx context.Context, tx *txn.Tx) error
		want error
	}{
		{"first Exec", func(ctx context.Context, tx *txn.Tx) error {
			_, err := tx.Exec(ctx, dup)
			return err
		}, errs.AlreadyExists},
		{"later Exec", func(ctx context.Context, tx *txn.Tx) error {
			if _, err := tx.Exec(ctx, bump, "a"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, negative, "b")
			return err
		}, errs.InvalidArgument},
		{"first QueryRow", func(ctx context.Context, tx *txn.Tx) error {
			return tx.QueryRow(ctx, "SELECT n FROM item WHERE id = 'none'").Scan(new(int))
		}, errs.NotFound},
		{"first Query", func(ctx context.Context, tx *txn.Tx) error {
			rows, err := tx.Query(ctx, "SELECT 1/(n - n) FROM item")
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowTo[int])
			return err
		}, errs.InvalidArgument},
		{"second statement of the first batch", func(ctx context.Context, tx *txn.Tx) error {
			b := &pgx.Batch{}
			b.Queue(bump, "a")
			b.Queue(dup)
			b.Queue(bump, "b")
			br := tx.SendBatch(ctx, b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return err
			}
			_, err := br.Exec()
			return err
		}, errs.AlreadyExists},
		{"a later batch, reported by Close", func(ctx context.Context, tx *txn.Tx) error {
			if _, err := tx.Exec(ctx, bump, "a"); err != nil {
				return err
			}
			b := &pgx.Batch{}
			b.Queue(bump, "b")
			b.Queue(negative, "a")
			return tx.SendBatch(ctx, b).Close()
		}, errs.InvalidArgument},
		{"an event without a type", func(ctx context.Context, tx *txn.Tx) error {
			if _, err := tx.Exec(ctx, bump, "a"); err != nil {
				return err
			}
			tx.Emit(outbox.Event{Key: "a"})
			return nil
		}, nil},
	}
	for _, c := range cases {
		err := f.run(func(tx *txn.Tx) error { return c.fn(t.Context(), tx) })
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: Run = %v, want %v", c.name, err, c.want)
		}
	}
	f.want(0)
	if got := f.n("b"); got != 0 {
		t.Errorf("item b's n = %d, want 0", got)
	}
}

// TestCommitOfAnAbortedTransactionFails: fn ignores a failed statement and returns nil;
// PostgreSQL answers the COMMIT of the aborted transaction with ROLLBACK, and Run must
// report that nothing was committed.
func TestCommitOfAnAbortedTransactionFails(t *testing.T) {
	f := newFixture(t, txn.Options{})
	for _, emit := range []bool{false, true} {
		err := f.run(func(tx *txn.Tx) error {
			if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
				return err
			}
			_, _ = tx.Exec(t.Context(), "UPDATE item SET n = -1 WHERE id = 'b'") // fails, ignored
			if emit {
				tx.Emit(added("a"))
			}
			return nil
		})
		if err == nil {
			t.Errorf("emit=%v: Run = nil, want an error", emit)
		}
		if !emit && !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Errorf("emit=%v: Run = %v, want pgx.ErrTxCommitRollback", emit, err)
		}
	}
	f.want(0)
	if got := f.notified.Load(); got != 0 {
		t.Errorf("Notify ran %d times, want 0", got)
	}
}

// TestFirstQueryRowsNeedNotBeClosed: rows read to the end close themselves, as pgx's do,
// though the first Query's rows come from the batch that carried BEGIN.
func TestFirstQueryRowsNeedNotBeClosed(t *testing.T) {
	f := newFixture(t, txn.Options{})
	err := f.run(func(tx *txn.Tx) error {
		rows, err := tx.Query(t.Context(), "SELECT id FROM item ORDER BY id FOR UPDATE")
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) != 2 {
			t.Errorf("ids = %q, want a and b", ids)
		}
		if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
			return err
		}
		tx.Emit(added("a"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.want(1, "shop.item.added:a")
}

// TestEventsWithoutStatements: a transaction that only emits writes its events.
func TestEventsWithoutStatements(t *testing.T) {
	f := newFixture(t, txn.Options{})
	if err := f.run(func(tx *txn.Tx) error { tx.Emit(added("x"), added("y")); return nil }); err != nil {
		t.Fatal(err)
	}
	f.want(0, "shop.item.added:x", "shop.item.added:y")
	if got := f.notified.Load(); got != 1 {
		t.Errorf("Notify ran %d times, want 1", got)
	}
}

// TestFirstBatchCallbacksRun: the callbacks of a batch's queued queries run when the
// batch is closed, though BEGIN went out in front of them.
func TestFirstBatchCallbacksRun(t *testing.T) {
	f := newFixture(t, txn.Options{})
	var before, after int
	err := f.run(func(tx *txn.Tx) error {
		b := &pgx.Batch{}
		b.Queue("SELECT n FROM item WHERE id = 'a'").QueryRow(func(row pgx.Row) error { return row.Scan(&before) })
		b.Queue(bump, "a")
		b.Queue("SELECT n FROM item WHERE id = 'a'").QueryRow(func(row pgx.Row) error { return row.Scan(&after) })
		return tx.SendBatch(t.Context(), b).Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != 0 || after != 1 {
		t.Errorf("n before and after = %d, %d, want 0, 1", before, after)
	}
	f.want(1)
}

func TestBeforeCommitRidesWithCommit(t *testing.T) {
	f := newFixture(t, txn.Options{})
	err := f.run(func(tx *txn.Tx) error {
		if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
			return err
		}
		tx.BeforeCommit(func(b *pgx.Batch) error {
			b.Queue(bump, "a")
			return nil
		})
		tx.Emit(added("a"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.want(2, "shop.item.added:a")

	// A statement queued at commit that fails rolls the whole transaction back.
	err = f.run(func(tx *txn.Tx) error {
		if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
			return err
		}
		tx.BeforeCommit(func(b *pgx.Batch) error {
			b.Queue("SELECT 1/0")
			return nil
		})
		tx.Emit(added("b"))
		return nil
	})
	if err == nil {
		t.Fatal("a failing statement at commit committed")
	}
	f.want(2, "shop.item.added:a")

	// An error from the queue function itself fails the commit too.
	boom := errors.New("boom")
	err = f.run(func(tx *txn.Tx) error {
		if _, err := tx.Exec(t.Context(), bump, "a"); err != nil {
			return err
		}
		tx.BeforeCommit(func(*pgx.Batch) error { return boom })
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the queue function's error", err)
	}
	f.want(2, "shop.item.added:a")
}
