package pgxutil_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// emptyDB returns a pool on a fresh database without any schema of ours.
func emptyDB(t *testing.T, cfg pgxutil.PoolConfig) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxutil.Connect(t.Context(), pgtest.NewURL(t, nil), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func sql(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func count(t *testing.T, pool *pgxpool.Pool, query string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrateAppliesEachFileOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := emptyDB(t, pgxutil.PoolConfig{})
	files := fstest.MapFS{
		// Name order, not map order: 0010 needs the table 0002 creates.
		"0010_seed.sql": sql("INSERT INTO item (name) VALUES ('a'); INSERT INTO item (name) VALUES ('b');"),
		"0002_init.sql": sql("CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL UNIQUE);"),
		"README.md":     sql("not a migration"),
	}
	for range 2 {
		if err := pgxutil.Migrate(ctx, pool, "shop", files); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM shop.item"); n != 2 {
		t.Errorf("%d items after migrating twice, want 2", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'item' AND schemaname <> 'shop'"); n != 0 {
		t.Errorf("migration created its table outside its schema")
	}

	files["0011_more.sql"] = sql("ALTER TABLE item ADD COLUMN price int NOT NULL DEFAULT 0;")
	if err := pgxutil.Migrate(ctx, pool, "shop", files); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, "SELECT version FROM shop.schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(versions, ","), "0002_init,0010_seed,0011_more"; got != want {
		t.Errorf("recorded versions %s, want %s", got, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM shop.item WHERE price = 0"); n != 2 {
		t.Errorf("new migration not applied")
	}
}

func TestMigrateFailedFileLeavesNoTrace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := emptyDB(t, pgxutil.PoolConfig{})
	files := fstest.MapFS{
		"0001_init.sql": sql("CREATE TABLE a (id int);"),
		"0002_bad.sql":  sql("CREATE TABLE b (id int); SELECT 1/0;"),
	}
	err := pgxutil.Migrate(ctx, pool, "shop", files)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("Migrate = %v, want an error naming 0002_bad.sql", err)
	}
	if n := count(t, pool, "SELECT count(*) FROM shop.schema_migrations"); n != 1 {
		t.Errorf("%d versions recorded, want only 0001", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop' AND tablename IN ('a', 'b')"); n != 1 {
		t.Errorf("want table a kept and table b rolled back")
	}
}

func TestMigrateConcurrentCallsSerialize(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := emptyDB(t, pgxutil.PoolConfig{MaxConns: 10})
	// Neither file can run twice, and the sleep keeps the callers overlapping.
	files := fstest.MapFS{
		"0001_init.sql": sql("CREATE TABLE ran (what text); SELECT pg_sleep(0.1);"),
		"0002_data.sql": sql("CREATE TABLE data (id int PRIMARY KEY); INSERT INTO ran VALUES ('0002');"),
	}
	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { errs[i] = pgxutil.Migrate(ctx, pool, "race", files) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM race.ran"); n != 1 {
		t.Errorf("0002 ran %d times, want 1", n)
	}
}

func TestMigrateRejectsFolderWithoutSQL(t *testing.T) {
	t.Parallel()
	pool := emptyDB(t, pgxutil.PoolConfig{})
	files := fstest.MapFS{"migrations/0001_init.sql": sql("CREATE TABLE a (id int);")}
	if err := pgxutil.Migrate(t.Context(), pool, "shop", files); err == nil || !strings.Contains(err.Error(), "pgxutil.Dir") {
		t.Errorf("Migrate = %v, want an error pointing at pgxutil.Dir", err)
	}
}

func TestConnectSettings(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dbURL := pgtest.NewURL(t, pgtest.Schemas{"shop": fstest.MapFS{"0001_init.sql": sql("CREATE TABLE item (id int);")}})

	pool, err := pgxutil.Connect(ctx, dbURL, pgxutil.PoolConfig{Schema: "shop", MaxConns: 3, ApplicationName: "waybill-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var schema, timeout, app string
	err = pool.QueryRow(ctx, "SELECT current_schema(), current_setting('statement_timeout'), current_setting('application_name')").
		Scan(&schema, &timeout, &app)
	if err != nil {
		t.Fatal(err)
	}
	if schema != "shop" || timeout != "30s" || app != "waybill-test" {
		t.Errorf("schema, statement_timeout, application_name = %s, %s, %s; want shop, 30s, waybill-test", schema, timeout, app)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO item VALUES (1)"); err != nil {
		t.Errorf("unqualified name not resolved in the schema: %v", err)
	}
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}

	short, err := pgxutil.Connect(ctx, dbURL, pgxutil.PoolConfig{StatementTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	_, err = short.Exec(ctx, "SELECT pg_sleep(2)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("a statement over the timeout returned %v, want query_canceled (57014)", err)
	}
}

func TestConnectFailsWhenUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	pool, err := pgxutil.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", pgxutil.PoolConfig{})
	if err == nil {
		pool.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	if _, err := pgxutil.NewPool("postgres://nobody@127.0.0.1:1/none", pgxutil.PoolConfig{}); err != nil {
		t.Errorf("NewPool must not connect: %v", err)
	}
}

func txDB(t *testing.T) *pgxpool.Pool {
	return pgtest.NewDB(t, "shop", fstest.MapFS{
		"0001_init.sql": sql(`
			CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
			CREATE TABLE entry (id serial PRIMARY KEY, account_id int NOT NULL REFERENCES account);
			INSERT INTO account VALUES (1, 100);`),
	})
}

func TestRetryRunsALostTransactionAgain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := txDB(t)
	serializable := pgx.TxOptions{IsoLevel: pgx.Serializable}

	// deposit reads the balance and writes it back plus 10; on its first attempt another
	// transaction deposits 1 in between, so the write fails with 40001.
	deposit := func(attempts *atomic.Int32) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			var balance int
			if err := tx.QueryRow(ctx, "SELECT balance FROM account WHERE id = 1").Scan(&balance); err != nil {
				return err
			}
			if attempts.Add(1) == 1 {
				if _, err := pool.Exec(ctx, "UPDATE account SET balance = balance + 1 WHERE id = 1"); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "UPDATE account SET balance = $1 WHERE id = 1", balance+10)
			return err
		}
	}

	var once atomic.Int32
	err := pgx.BeginTxFunc(ctx, pool, serializable, deposit(&once))
	if !errors.Is(pgxutil.MapError(err), errs.Aborted) {
		t.Fatalf("without retries: %v, want a conflict", err)
	}

	var retried atomic.Int32
	if err := pgxutil.Retry(ctx, 3, func() error { return pgx.BeginTxFunc(ctx, pool, serializable, deposit(&retried)) }); err != nil {
		t.Fatal(err)
	}
	if n := retried.Load(); n != 2 {
		t.Errorf("fn ran %d times, want 2", n)
	}
	var balance int
	if err := pool.QueryRow(ctx, "SELECT balance FROM account WHERE id = 1").Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if want := 100 + 1 + 1 + 10; balance != want {
		t.Errorf("balance %d, want %d: two interfering deposits of 1 and one of 10", balance, want)
	}
}

func TestMapError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := txDB(t)
	for _, tc := range []struct {
		name     string
		run      func() error
		want     errs.Kind
		field    string
		sqlstate string
	}{
		{"unique violation", func() error {
			_, err := pool.Exec(ctx, "INSERT INTO account VALUES (1, 0)")
			return err
		}, errs.AlreadyExists, "", "23505"},
		{"no rows", func() error {
			var id int
			return pool.QueryRow(ctx, "SELECT id FROM account WHERE id = 999").Scan(&id)
		}, errs.NotFound, "", ""},
		{"foreign key", func() error {
			_, err := pool.Exec(ctx, "INSERT INTO entry (account_id) VALUES (999)")
			return err
		}, errs.FailedPrecondition, "", "23503"},
		{"check", func() error {
			_, err := pool.Exec(ctx, "UPDATE account SET balance = -1 WHERE id = 1")
			return err
		}, errs.InvalidArgument, "account_balance_check", "23514"},
		{"not null", func() error {
			_, err := pool.Exec(ctx, "INSERT INTO account VALUES (5, NULL)")
			return err
		}, errs.InvalidArgument, "balance", "23502"},
		{"bad text representation", func() error {
			_, err := pool.Exec(ctx, "SELECT 'x'::int")
			return err
		}, errs.InvalidArgument, "", "22P02"},
		{"numeric out of range", func() error {
			_, err := pool.Exec(ctx, "SELECT 9223372036854775807::bigint + 1")
			return err
		}, errs.InvalidArgument, "", "22003"},
		{"admin shutdown", func() error {
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		}, errs.Unavailable, "", "57P01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			mapped := pgxutil.MapError(fmt.Errorf("op: %w", err))
			if got := errs.KindOf(mapped); got != tc.want {
				t.Errorf("MapError(%v) has kind %v, want %v", err, got, tc.want)
			}
			if !errors.Is(mapped, tc.want) {
				t.Errorf("errors.Is(MapError(%v), %v) is false", err, tc.want)
			}
			if e, _ := errs.As(mapped); tc.field != "" && (e == nil || len(e.Fields) != 1 || e.Fields[0].Field != tc.field) {
				t.Errorf("MapError(%v) = %#v, want field %q named", err, e, tc.field)
			}
			if tc.sqlstate != "" {
				var pgErr *pgconn.PgError
				if !errors.As(mapped, &pgErr) || pgErr.Code != tc.sqlstate {
					t.Errorf("original error lost: %v", mapped)
				}
			} else if !errors.Is(mapped, pgx.ErrNoRows) {
				t.Errorf("original error lost: %v", mapped)
			}
			if again := pgxutil.MapError(mapped); again != mapped {
				t.Errorf("mapping twice changed the error: %v", again)
			}
		})
	}

	t.Run("server unreachable", func(t *testing.T) {
		// A port nothing listens on: the dial fails.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		conn, err := pgx.Connect(ctx, "postgres://nobody@"+addr+"/db?connect_timeout=2")
		if err == nil {
			_ = conn.Close(ctx)
			t.Fatal("connected to a closed port")
		}
		if got := errs.KindOf(pgxutil.MapError(err)); got != errs.Unavailable {
			t.Errorf("MapError(%v) has kind %v, want UNAVAILABLE", err, got)
		}
	})

	other := errors.New("other")
	for _, err := range []error{nil, other, context.Canceled, fmt.Errorf("op: %w", context.DeadlineExceeded)} {
		if got := pgxutil.MapError(err); got != err {
			t.Errorf("MapError(%v) = %v, want it unchanged", err, got)
		}
	}
	_, err := pool.Exec(ctx, "SELECT * FROM missing_table")
	if got := pgxutil.MapError(err); got != err {
		t.Errorf("MapError(%v) = %v, want an unknown SQLSTATE unchanged", err, got)
	}
}

func TestMapNotFound(t *testing.T) {
	err := pgxutil.MapNotFound(fmt.Errorf("get: %w", pgx.ErrNoRows), "rate card %q not found", "x")
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.NotFound || e.Message != `rate card "x" not found` || !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("MapNotFound(no rows) = %#v", err)
	}
	conflict := &pgconn.PgError{Code: "40001"}
	if got := errs.KindOf(pgxutil.MapNotFound(conflict, "x")); got != errs.Aborted {
		t.Errorf("MapNotFound(40001) kind %v, want MapError's ABORTED", got)
	}
}

func TestConstraintsMap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := txDB(t)
	overdrawn := errs.Precondition("OVERDRAWN", "the balance would go below zero")
	c := pgxutil.Constraints{"account_balance_check": overdrawn}
	_, err := pool.Exec(ctx, "UPDATE account SET balance = -1 WHERE id = 1")
	mapped := c.Map(err)
	if !errors.Is(mapped, overdrawn) {
		t.Errorf("Map(%v) = %v, want the constraint's error", err, mapped)
	}
	var pgErr *pgconn.PgError
	if !errors.As(mapped, &pgErr) {
		t.Errorf("cause lost: %v", mapped)
	}
	_, err = pool.Exec(ctx, "INSERT INTO account VALUES (1, 0)")
	if got := errs.KindOf(c.Map(err)); got != errs.AlreadyExists {
		t.Errorf("an unlisted constraint maps to %v, want MapError's ALREADY_EXISTS", got)
	}
}
