package serve_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var migrations = fstest.MapFS{
	"0001_init.sql": {Data: []byte("CREATE TABLE widget (id int PRIMARY KEY);")},
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run starts a service with the given database URL and returns a health client.
func run(t *testing.T, dbURL string) healthpb.HealthClient {
	t.Helper()
	return runWith(t, dbURL, "", func(string) string { return "" })
}

// runWith starts a service with the given database URL, metrics and health HTTP address
// (empty disables it) and environment, and returns a health client.
func runWith(t *testing.T, dbURL, httpAddr string, getenv func(string) string) healthpb.HealthClient {
	t.Helper()
	grpcAddr := freeAddr(t)
	spec := serve.Spec{
		Name:       "widgets",
		Migrations: migrations,
		Register:   func(context.Context, serve.Deps) error { return nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, spec, []string{"--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--database-url", dbURL}, getenv, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func status(hc healthpb.HealthClient) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err.Error()
	}
	return resp.GetStatus().String()
}

func TestNotServingWithoutDatabase(t *testing.T) {
	t.Parallel()
	hc := run(t, "postgres://postgres@"+freeAddr(t)+"/nowhere?sslmode=disable&connect_timeout=1")
	// Once it listens (a loaded machine may take a while to start it), it answers health
	// checks, and keeps saying NOT_SERVING.
	deadline := time.Now().Add(10 * time.Second)
	for got := status(hc); got != "NOT_SERVING"; got = status(hc) {
		if !strings.Contains(got, "Unavailable") || time.Now().After(deadline) {
			t.Fatalf("health without a database = %s, want NOT_SERVING", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if got := status(hc); got != "NOT_SERVING" {
			t.Fatalf("health without a database = %s, want NOT_SERVING", got)
		}
	}
}

func TestServingOnceMigrated(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t, pgtest.Schemas{})
	hc := run(t, url)
	deadline := time.Now().Add(10 * time.Second)
	for status(hc) != "SERVING" {
		if time.Now().After(deadline) {
			t.Fatalf("never SERVING: %s", status(hc))
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM widgets.widget").Scan(&n); err != nil {
		t.Fatalf("migration not applied in the service's schema: %v", err)
	}
	if n != 0 {
		t.Errorf("widget has %d rows, want 0", n)
	}
}

// TestPprofFlag: the runtime's profiles are served on the metrics and health address
// only with --pprof (here from WAYBILL_PPROF).
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	noDB := "postgres://postgres@" + freeAddr(t) + "/nowhere?sslmode=disable&connect_timeout=1"
	for _, enabled := range []string{"", "true"} {
		httpAddr := freeAddr(t)
		runWith(t, noDB, httpAddr, func(name string) string {
			if name == "WAYBILL_PPROF" {
				return enabled
			}
			return ""
		})
		var resp *http.Response
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			if resp, err = http.Get("http://" + httpAddr + "/debug/pprof/cmdline"); err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("HTTP endpoint never answered: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		want := http.StatusNotFound
		if enabled != "" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("WAYBILL_PPROF=%q: /debug/pprof/cmdline answered %d, want %d", enabled, resp.StatusCode, want)
		}
	}
}

// TestMigratedClosesAfterMigrations: work that Register starts can wait for
// Deps.Migrated, which closes once the service's tables exist (and not before: the
// database here starts empty).
func TestMigratedClosesAfterMigrations(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t, pgtest.Schemas{})
	found := make(chan error, 1)
	spec := serve.Spec{
		Name:       "widgets",
		Migrations: migrations,
		Register: func(ctx context.Context, d serve.Deps) error {
			if d.Migrated == nil {
				return errors.New("no Migrated channel")
			}
			go func() {
				if !d.AwaitMigrations(ctx) {
					return
				}
				var n int
				found <- d.Pool.QueryRow(ctx, `SELECT count(*) FROM widget`).Scan(&n)
			}()
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, spec, []string{"--grpc-addr", freeAddr(t), "--http-addr", "", "--database-url", url},
			func(string) string { return "" }, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case err := <-found:
		if err != nil {
			t.Fatalf("after Migrated closed, the service's table: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Migrated never closed")
	}
}
