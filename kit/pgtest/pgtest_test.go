package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// shop's migrations fail if run twice on one database.
var shop = fstest.MapFS{
	"0001_init.sql": {Data: []byte("CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL);")},
	"0002_seed.sql": {Data: []byte("INSERT INTO item VALUES (1, 'seed');")},
}

func TestParallelTestsGetDistinctDatabases(t *testing.T) {
	var mu sync.Mutex
	names := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				pool := NewDB(t, "shop", shop)
				ctx := t.Context()
				var name string
				var n int
				err := pool.QueryRow(ctx, "SELECT current_database(), count(*) FROM item").Scan(&name, &n)
				if err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("a fresh database has %d items, want the 1 seeded", n)
				}
				// Written rows must not show in the other tests' databases.
				if _, err := pool.Exec(ctx, "INSERT INTO item VALUES ($1, 'mine')", 100+i); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				names[name] = true
				mu.Unlock()
			})
		}
	})
	if len(names) != 4 {
		t.Fatalf("4 parallel tests used %d databases: %v", len(names), names)
	}
	a, err := getAdmin()
	if err != nil {
		t.Fatal(err)
	}
	for name := range names {
		var exists bool
		if err := a.pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s not dropped after its test", name)
		}
	}
}

func TestNewURLHoldsEverySchema(t *testing.T) {
	t.Parallel()
	dbURL := NewURL(t, Schemas{
		"shop":    shop,
		"billing": fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE bill (id int PRIMARY KEY);")}},
	})
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var item, bill *string
	if err := conn.QueryRow(t.Context(), "SELECT to_regclass('shop.item')::text, to_regclass('billing.bill')::text").Scan(&item, &bill); err != nil {
		t.Fatal(err)
	}
	if item == nil || bill == nil {
		t.Errorf("shop.item = %v, billing.bill = %v; want both", item, bill)
	}
}

// TestLeftoverBuildIsReplaced simulates a process that died while building a template.
func TestLeftoverBuildIsReplaced(t *testing.T) {
	t.Parallel()
	migrations := fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE t (id int); -- " + randomHex(8))}}
	name, err := templateName(Schemas{"leftover": migrations})
	if err != nil {
		t.Fatal(err)
	}
	a, err := getAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(t.Context(), "CREATE DATABASE "+ident(name+"_new")); err != nil {
		t.Fatal(err)
	}
	pool := NewDB(t, "leftover", migrations)
	if _, err := pool.Exec(t.Context(), "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
}

// TestTemplateBuiltOnceAcrossProcesses runs test processes that need the same new
// template at the same time against one server, as `go test ./...` does with
// DATABASE_URL set. The migration cannot run twice in one database.
func TestTemplateBuiltOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	a, err := getAdmin()
	if err != nil {
		t.Fatal(err)
	}
	salt := randomHex(8)
	const processes = 3
	outs := make([]strings.Builder, processes)
	cmds := make([]*exec.Cmd, processes)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClone$", "-test.v")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+a.url, "PGTEST_HELPER_SALT="+salt)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	name, err := templateName(Schemas{"clone": helperMigrations(salt)})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '%'", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d databases named %s*, want just the template", n, name)
	}
}

func helperMigrations(salt string) fstest.MapFS {
	return fstest.MapFS{"0001_init.sql": {Data: []byte(
		"CREATE TABLE once (id int PRIMARY KEY); INSERT INTO once VALUES (1); -- " + salt)}}
}

// TestHelperClone is the child process of TestTemplateBuiltOnceAcrossProcesses.
func TestHelperClone(t *testing.T) {
	salt := os.Getenv("PGTEST_HELPER_SALT")
	if salt == "" {
		t.Skip("helper process only")
	}
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			pool := NewDB(t, "clone", helperMigrations(salt))
			var n int
			if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM once").Scan(&n); err != nil || n != 1 {
				t.Errorf("count = %d (%v), want 1", n, err)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable": "postgres://u:p@127.0.0.1:5432/db1?sslmode=disable",
		"postgresql://h/":               "postgresql://h/db1",
		"host=h user=u dbname=postgres": "host=h user=u dbname=postgres dbname=db1",
	} {
		got := databaseURL(in, "db1")
		if got != want {
			t.Errorf("databaseURL(%q) = %q, want %q", in, got, want)
		}
		if _, err := pgx.ParseConfig(got); err != nil {
			t.Errorf("databaseURL(%q) = %q: %v", in, got, err)
		}
	}
	cfg, _ := pgx.ParseConfig(databaseURL("host=h dbname=postgres", "db1"))
	if cfg.Database != "db1" {
		t.Errorf("keyword/value: database = %q, want db1", cfg.Database)
	}
}

func TestTemplateNameDependsOnContent(t *testing.T) {
	a, _ := templateName(Schemas{"shop": shop})
	b, _ := templateName(Schemas{"shop": fstest.MapFS{"0001_init.sql": {Data: []byte("CREATE TABLE item (id int);")}}})
	c, _ := templateName(Schemas{"store": shop})
	d, _ := templateName(Schemas{"shop": shop})
	if a == b || a == c || a != d {
		t.Errorf("template names: %s %s %s %s; want the same only for the same schema and files", a, b, c, d)
	}
	if len(a) > 63-len("_new") {
		t.Errorf("template name %s too long for PostgreSQL", a)
	}
}
