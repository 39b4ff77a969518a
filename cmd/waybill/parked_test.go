package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// parkedMigrations are consumer.Migrations plus the table the test's handler writes.
var parkedMigrations = pgxutil.MustMergeMigrations(consumer.Migrations, fstest.MapFS{"0900_effects.sql": {Data: []byte(
	`CREATE TABLE effects (id bigserial PRIMARY KEY, seq bigint NOT NULL);`)}})

// serveParked serves the ConsumerAdminService of service "shop" over pool, as a service
// does (bearer tokens signed with secret, kit/errs errors as statuses), and returns its
// address.
func serveParked(t *testing.T, pool *pgxpool.Pool, secret string) string {
	t.Helper()
	signer, err := auth.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	toStatus := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		return resp, grpcerr.ToStatus(err, grpcerr.Domain("shop"))
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor(), toStatus))
	record := func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		_, err := tx.Exec(ctx, `INSERT INTO effects (seq) VALUES ($1)`, ev.GetSequence())
		return err
	}
	consumeradmin.Register(srv, "shop", consumer.NewParking(pool, map[string]consumer.Handler{"ledger": record}, consumer.ParkingOptions{}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// `waybill parked` lists, replays and discards through the admin service, as an
// operator with a token signed with the shared secret.
func TestParked(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, "shop", parkedMigrations)
	for seq := 1; seq <= 4; seq++ {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		_, err := pool.Exec(t.Context(), `INSERT INTO parked_events (consumer, source, seq, event_id, type, key, error, attempts)
			VALUES ('ledger', 'trip', $1, $2, 'shop.item.changed', 'k', $3, 5)`, seq, hex.EncodeToString(b), map[bool]string{true: "boom\nline two"}[seq == 1])
		if err != nil {
			t.Fatal(err)
		}
	}
	const secret = "the test's shared secret, thirty-two bytes or more"
	addr := serveParked(t, pool, secret)
	env := map[string]string{"WAYBILL_AUTH_SECRET": secret}
	waybill := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(t.Context(), append([]string{"parked"}, args...), func(k string) string { return env[k] }, &out)
		return out.String(), err
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM effects`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	out, err := waybill("list", "--addr", addr, "--page-size", "3")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 6 || !strings.Contains(out, "boom line two") ||
		!strings.Contains(out, "--page-token") || !strings.Contains(lines[2], "waiting behind") {
		t.Errorf("list output:\n%s", out)
	}
	out, err = waybill("list", "--addr", addr, "--page-size", "3", "--all", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "{") {
		t.Errorf("list --all --json output:\n%s", out)
	}
	rows, err := pool.Query(t.Context(), `SELECT id::text FROM parked_events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}

	// A customer's token is refused, and nothing changes.
	signer, _ := auth.NewSigner(secret)
	customer, _ := signer.Sign(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}, time.Minute)
	if _, err := waybill("discard", "--addr", addr, "--token", customer, ids[3]); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Errorf("discard with a customer's token: %v, want PermissionDenied", err)
	}

	out, err = waybill("discard", "--addr", addr, ids[3])
	if err != nil || out != "discarded 1\n" {
		t.Errorf("discard: %q, %v", out, err)
	}
	out, err = waybill("replay", "--addr", addr, "--service", "shop", ids[0], ids[1])
	if err != nil || out != "replayed 2, failed 0\n" {
		t.Errorf("replay: %q, %v", out, err)
	}
	out, err = waybill("replay", "--addr", addr, "--all")
	if err != nil || out != "replayed 1, failed 0\n" {
		t.Errorf("replay --all: %q, %v", out, err)
	}
	if n := count(); n != 3 {
		t.Errorf("%d effects, want 3", n)
	}

	for _, args := range [][]string{
		nil,
		{"frobnicate", "--addr", addr},
		{"list"},
		{"list", "--addr", addr, "12"},
		{"replay", "--addr", addr},
		{"replay", "--addr", addr, "--all", "1"},
		{"discard", "--addr", addr},
		{"list", "--addr", addr, "--page-size", "-1"},
		{"discard", "--addr", addr, "x"},
		{"list", "--addr", addr, "--service", "billing"},
	} {
		if out, err := waybill(args...); err == nil {
			t.Errorf("%q succeeded: %s", args, out)
		}
	}
	if out, err := waybill("list", "-h"); err != nil || !strings.Contains(out, "usage: waybill parked") {
		t.Errorf("list -h: %q, %v", out, err)
	}
}
