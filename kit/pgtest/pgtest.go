// Package pgtest gives each test a fresh PostgreSQL database with its migrations
// applied, in tens of milliseconds: the migrations run once into a template database
// named after a hash of their content, which test processes share, and each test gets a
// clone of it (CREATE DATABASE … TEMPLATE), dropped when the test ends. Tests using it
// may call t.Parallel.
//
// The server is the one DATABASE_URL points to, when set: a role allowed to create
// databases (a superuser, or CREATEDB) on a server shared by every test package, which
// run in separate processes; templates are named pgtest_tpl_<hash of the migrations> and
// stay there for later runs, and test databases are named pgtest_<random>. Otherwise
// each test process starts its own throwaway server with pglocal on first use, in its
// fast, non-durable mode; a package's TestMain should then stop it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without that, the server still dies with the test process, and the next pglocal start
// removes its folder.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/pglocal"
	"github.com/waybill/waybill/kit/pgxutil"
)

// Schemas maps schema names to their migrations, as passed to pgxutil.Migrate.
type Schemas map[string]fs.FS

const (
	// templateVersion changes the name of every template when the way templates are
	// built changes.
	templateVersion = "pgtest v1"
	// setupTimeout bounds building a template or cloning it.
	setupTimeout = 5 * time.Minute
)

// NewDB returns a pool on a new database holding schema with migrations applied; the
// pool's search_path is schema. The pool is closed and the database dropped when the
// test ends.
func NewDB(t testing.TB, schema string, migrations fs.FS) *pgxpool.Pool {
	t.Helper()
	if schema == "" {
		t.Fatal("pgtest.NewDB: empty schema name")
	}
	dbURL := NewURL(t, Schemas{schema: migrations})
	pool, err := pgxutil.Connect(t.Context(), dbURL, pgxutil.PoolConfig{Schema: schema, ApplicationName: "pgtest"})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the drop NewURL registered
	return pool
}

// NewURL creates a new database holding every schema of schemas with its migrations
// applied (in schema name order) and returns its URL, for tests that connect to several
// schemas or configure their own pools. The database is dropped when the test ends,
// ending any connection still open.
func NewURL(t testing.TB, schemas Schemas) string {
	t.Helper()
	a, err := getAdmin()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	tpl, err := a.template(schemas)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "pgtest_" + randomHex(8)
	ctx, cancel := context.WithTimeout(t.Context(), setupTimeout)
	defer cancel()
	err = retryInUse(ctx, func() error {
		_, err := a.pool.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tpl))
		return err
	})
	if err != nil {
		t.Fatalf("pgtest: clone %s: %v", tpl, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := a.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return databaseURL(a.url, name)
}

// Main runs the tests and then stops the server this process started, if any, and exits
// with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// admin is the process's connection to the server, made on first use.
type admin struct {
	url    string
	pool   *pgxpool.Pool
	server *pglocal.Server // nil when DATABASE_URL was given

	templates sync.Map // template name → *templateOnce
}

type templateOnce struct {
	once sync.Once
	err  error
}

var (
	adminMu  sync.Mutex
	theAdmin *admin
	adminErr error // remembered: a missing PostgreSQL fails every test the same way at once
)

func getAdmin() (*admin, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if theAdmin != nil || adminErr != nil {
		return theAdmin, adminErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	a := &admin{url: os.Getenv("DATABASE_URL")}
	if a.url == "" {
		s, err := pglocal.Start(ctx, pglocal.Options{Fast: true})
		if err != nil {
			adminErr = fmt.Errorf("start a PostgreSQL server for the tests (or set DATABASE_URL): %w", err)
			return nil, adminErr
		}
		a.server, a.url = s, s.URL()
	}
	pool, err := pgxutil.Connect(ctx, a.url, pgxutil.PoolConfig{
		MaxConns:         8,
		StatementTimeout: setupTimeout,
		ApplicationName:  "pgtest",
	})
	if err != nil {
		if a.server != nil {
			_ = a.server.Stop()
		}
		adminErr = err
		return nil, adminErr
	}
	a.pool = pool
	theAdmin = a
	return a, nil
}

// shutdown closes the admin pool and stops the server this process started.
func shutdown() error {
	adminMu.Lock()
	defer adminMu.Unlock()
	a := theAdmin
	theAdmin, adminErr = nil, errors.New("pgtest: used after Main's tests ended")
	if a == nil {
		return nil
	}
	a.pool.Close()
	if a.server != nil {
		return a.server.Stop()
	}
	return nil
}

// template returns the name of the migrated template database for schemas, building it
// if no process has yet.
func (a *admin) template(schemas Schemas) (string, error) {
	name, err := templateName(schemas)
	if err != nil {
		return "", err
	}
	v, _ := a.templates.LoadOrStore(name, &templateOnce{})
	o := v.(*templateOnce)
	o.once.Do(func() { o.err = a.buildTemplate(name, schemas) })
	return name, o.err
}

// buildTemplate creates the template unless another process has. A session advisory lock
// on a connection of its own serializes builders across processes and is released when
// the connection closes, even if this process dies. The migrations run in a database
// with a temporary name, renamed when complete, so a template that exists is complete.
func (a *admin) buildTemplate(name string, schemas Schemas) error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	lockConn, err := pgx.Connect(ctx, a.url)
	if err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	defer lockConn.Close(context.Background())
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('pgtest'), hashtext($1))", name); err != nil {
		return fmt.Errorf("build template: lock: %w", err)
	}
	var exists bool
	if err := lockConn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	if exists {
		return nil
	}

	building := name + "_new"
	// Left by a process that died while building.
	if _, err := lockConn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(building)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	if _, err := lockConn.Exec(ctx, "CREATE DATABASE "+ident(building)); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	if err := migrateAll(ctx, databaseURL(a.url, building), schemas); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	// A template nobody connects to can always be cloned; this also keeps autovacuum
	// out of it.
	if _, err := lockConn.Exec(ctx, "ALTER DATABASE "+ident(building)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	err = retryInUse(ctx, func() error {
		_, err := lockConn.Exec(ctx, "ALTER DATABASE "+ident(building)+" RENAME TO "+ident(name))
		return err
	})
	if err != nil {
		return fmt.Errorf("build template: %w", err)
	}
	return nil
}

// migrateAll applies every schema's migrations to the database at dbURL.
func migrateAll(ctx context.Context, dbURL string, schemas Schemas) error {
	pool, err := pgxutil.Connect(ctx, dbURL, pgxutil.PoolConfig{MaxConns: 1, StatementTimeout: -1, ApplicationName: "pgtest"})
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, schema := range sortedKeys(schemas) {
		if err := pgxutil.Migrate(ctx, pool, schema, schemas[schema]); err != nil {
			return err
		}
	}
	return nil
}

// templateName names the template for schemas after a hash of the schema names and of
// the migration files' names and contents.
func templateName(schemas Schemas) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", templateVersion)
	for _, schema := range sortedKeys(schemas) {
		ms, err := pgxutil.Migrations(schemas[schema])
		if err != nil {
			return "", fmt.Errorf("schema %s: %w", schema, err)
		}
		fmt.Fprintf(h, "schema %q\x00", schema)
		for _, m := range ms {
			fmt.Fprintf(h, "%q %d\x00%s\x00", m.Version, len(m.SQL), m.SQL)
		}
	}
	return "pgtest_tpl_" + hex.EncodeToString(h.Sum(nil))[:20], nil
}

// retryInUse runs op until it does not fail because another session is connected to a
// database it needs alone (55006: a template being cloned, or a database being renamed,
// just after its last session closed), waiting 10 ms, doubling to 500 ms, between tries.
//
// Hand-written rather than backoff.Retry (cenkalti/backoff/v5, as kit/serve and
// kit/consumer retry): only 55006 is retried, so every other error would need wrapping
// in backoff.Permanent, and when ctx ends backoff.Retry returns the context's error
// alone, where a setup that gave up should say what it kept failing with. With both,
// the loop would be longer than this one.
func retryInUse(ctx context.Context, op func() error) error {
	delay := 10 * time.Millisecond
	for {
		err := op()
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// databaseURL returns the admin URL pointing at database name instead.
func databaseURL(adminURL, name string) string {
	if u, err := url.Parse(adminURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// A keyword/value connection string: the last dbname wins.
	return adminURL + " dbname=" + name
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func sortedKeys(schemas Schemas) []string {
	keys := make([]string, 0, len(schemas))
	for k := range schemas {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
