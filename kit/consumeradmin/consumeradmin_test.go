package consumeradmin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// service is the consuming service of the tests.
const service = "shop"

// migrations are consumer.Migrations plus the table the tests' handlers write.
var migrations = pgxutil.MustMergeMigrations(consumer.Migrations, fstest.MapFS{"0900_effects.sql": {Data: []byte(
	`CREATE TABLE effects (id bigserial PRIMARY KEY, consumer text NOT NULL, seq bigint NOT NULL);`)}})

// recorder returns a handler that writes an effects row for each event, and counts its calls.
func recorder(name string, calls *atomic.Int64) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if calls != nil {
			calls.Add(1)
		}
		_, err := tx.Exec(ctx, `INSERT INTO effects (consumer, seq) VALUES ($1, $2)`, name, ev.GetSequence())
		return err
	}
}

// park inserts parked events of consumer name with sequences seqs, all of key "k"; the
// first has an error, the others wait behind it.
func park(t testing.TB, pool *pgxpool.Pool, name string, seqs ...int) {
	t.Helper()
	for i, seq := range seqs {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		errText := ""
		if i == 0 {
			errText = "boom"
		}
		_, err := pool.Exec(t.Context(), `INSERT INTO parked_events (consumer, source, seq, event_id, type, key, error, attempts)
			VALUES ($1, 'trip', $2, $3, 'shop.item.changed', 'k', $4, 5)`, name, seq, hex.EncodeToString(b), errText)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// clients are the admin service's clients as each kind of caller.
type clients struct {
	operator, service, customer, anonymous eventsv1.ConsumerAdminServiceClient
}

// serve serves the admin service of parking over loopback as a service does (bearer
// tokens, kit/errs errors turned into statuses) and returns its clients.
func serve(t testing.TB, parking *consumer.Parking) clients {
	t.Helper()
	signer, err := auth.NewSigner("test secret of at least thirty-two bytes")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// kit/grpcserver's interceptors, reduced to what the admin service relies on.
	toStatus := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		return resp, grpcerr.ToStatus(err, grpcerr.Domain(service))
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor(), toStatus))
	consumeradmin.Register(srv, service, parking)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	dial := func(id *auth.Identity) eventsv1.ConsumerAdminServiceClient {
		var opts []grpc.DialOption
		if id != nil {
			opts = append(opts, signer.DialOption(*id))
		}
		conn, err := grpcclient.Dial(lis.Addr().String(), grpcclient.Options{}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return eventsv1.NewConsumerAdminServiceClient(conn)
	}
	return clients{
		operator:  dial(&auth.Identity{Subject: "ops", Role: auth.RoleOperator}),
		service:   dial(&auth.Identity{Subject: "billing", Role: auth.RoleService}),
		customer:  dial(&auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}),
		anonymous: dial(nil),
	}
}

// badRequestField returns the field a BadRequest detail of err names.
func badRequestField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// reason returns the reason of err's ErrorInfo detail.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// snapshot describes the parked events, to show that a call changed nothing.
func snapshot(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT id, consumer, error, attempts FROM parked_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, attempts int64
		var c, e string
		if err := rows.Scan(&id, &c, &e, &attempts); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %q %d\n", id, c, e, attempts)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// parkedIDs lists the ids of the parked events, oldest first.
func parkedIDs(t testing.TB, c eventsv1.ConsumerAdminServiceClient, consumerName string) []string {
	t.Helper()
	resp, err := c.ListParkedEvents(t.Context(), &eventsv1.ListParkedEventsRequest{Consumer: consumerName, PageSize: consumeradmin.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range resp.GetParkedEvents() {
		ids = append(ids, p.GetId())
	}
	return ids
}

// Only operators and services may use the admin service: a customer gets
// PERMISSION_DENIED and an anonymous caller UNAUTHENTICATED, whatever the request, and
// nothing changes.
func TestOnlyOperatorsAndServices(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, service, migrations)
	park(t, pool, "ledger", 1, 2)
	var calls atomic.Int64
	c := serve(t, consumer.NewParking(pool, map[string]consumer.Handler{"ledger": recorder("ledger", &calls)}, consumer.ParkingOptions{}))
	ids := parkedIDs(t, c.operator, "")
	before := snapshot(t, pool)
	ctx := t.Context()
	for _, tc := range []struct {
		caller eventsv1.ConsumerAdminServiceClient
		code   codes.Code
	}{{c.customer, codes.PermissionDenied}, {c.anonymous, codes.Unauthenticated}} {
		_, err := tc.caller.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{})
		if status.Code(err) != tc.code {
			t.Errorf("list: %v, want %v", err, tc.code)
		}
		_, err = tc.caller.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{})
		if status.Code(err) != tc.code {
			t.Errorf("replay: %v, want %v", err, tc.code)
		}
		_, err = tc.caller.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Ids: ids})
		if status.Code(err) != tc.code {
			t.Errorf("discard: %v, want %v", err, tc.code)
		}
		// A bad request of such a caller learns nothing more.
		_, err = tc.caller.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{Service: "billing", PageSize: -1})
		if status.Code(err) != tc.code {
			t.Errorf("bad list: %v, want %v", err, tc.code)
		}
	}
	if got := snapshot(t, pool); got != before || calls.Load() != 0 {
		t.Fatalf("refused calls changed something (%d handler calls):\n%s\nwant\n%s", calls.Load(), got, before)
	}
	if got := parkedIDs(t, c.service, ""); !slices.Equal(got, ids) {
		t.Errorf("a service lists %v, want %v", got, ids)
	}
	resp, err := c.service.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Service: service})
	if err != nil || resp.GetReplayedCount() != 2 {
		t.Fatalf("a service's replay: %v, %v; want 2 replayed", resp, err)
	}
}

// Bad input gets INVALID_ARGUMENT naming the field and changes nothing.
func TestRejectsBadInput(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, service, migrations)
	park(t, pool, "ledger", 1, 2, 3)
	var calls atomic.Int64
	admin := serve(t, consumer.NewParking(pool, map[string]consumer.Handler{"ledger": recorder("ledger", &calls)}, consumer.ParkingOptions{})).operator
	ids := parkedIDs(t, admin, "")
	before := snapshot(t, pool)

	ctx := t.Context()
	first, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{Consumer: "ledger", PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page of 1: %v, %v", first, err)
	}
	ledgerToken := first.GetNextPageToken()
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"negative page size", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageSize: -1})
			return err
		}, "page_size"},
		{"garbage page token", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageToken: "garbage!"})
			return err
		}, "page_token"},
		{"page token of another kind", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageToken: "djE6MTI"}) // base64url of "v1:12"
			return err
		}, "page_token"},
		{"page token of another consumer", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{Consumer: "other", PageToken: ledgerToken})
			return err
		}, "page_token"},
		{"list for another service", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{Service: "billing"})
			return err
		}, "service"},
		{"discard without ids", func() error {
			_, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{})
			return err
		}, "ids"},
		{"discard with an empty id", func() error {
			_, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Ids: []string{ids[0], ""}})
			return err
		}, "ids[1]"},
		{"discard with a malformed id", func() error {
			_, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Ids: []string{ids[0], "-3"}})
			return err
		}, "ids[1]"},
		{"discard with too many ids", func() error {
			_, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Ids: make([]string, consumeradmin.MaxIDs+1)})
			return err
		}, "ids"},
		{"replay with a malformed id", func() error {
			_, err := admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Ids: []string{ids[0], "abc"}})
			return err
		}, "ids[1]"},
		{"replay of an unknown consumer", func() error {
			_, err := admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Consumer: "nobody"})
			return err
		}, "consumer"},
		{"replay of ids of another consumer", func() error {
			_, err := admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Consumer: "other", Ids: ids})
			return err
		}, "consumer"},
		{"replay for another service", func() error {
			_, err := admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Service: "billing"})
			return err
		}, "service"},
		{"discard for another service", func() error {
			_, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Service: "billing", Ids: ids})
			return err
		}, "service"},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || badRequestField(err) != tc.field {
			t.Errorf("%s: %v (field %q), want INVALID_ARGUMENT naming %s", tc.name, err, badRequestField(err), tc.field)
		}
	}
	if after := snapshot(t, pool); after != before || calls.Load() != 0 {
		t.Errorf("bad input changed something (%d handler calls):\n%s\nwant\n%s", calls.Load(), after, before)
	}

	// The limits themselves are fine, and a larger page size gets the largest page.
	for _, size := range []int32{0, 1, consumeradmin.MaxPageSize, consumeradmin.MaxPageSize + 1} {
		if _, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageSize: size, Service: service}); err != nil {
			t.Errorf("page size %d: %v", size, err)
		}
	}
}

// List pages through the parked events with page tokens, Replay applies them (a
// consumer without handler gets FAILED_PRECONDITION), Discard removes them.
func TestListReplayDiscard(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, service, migrations)
	park(t, pool, "ledger", 1, 2, 3, 4, 5)
	park(t, pool, "orphan", 1, 2)
	c := serve(t, consumer.NewParking(pool, map[string]consumer.Handler{"ledger": recorder("ledger", nil)}, consumer.ParkingOptions{}))
	admin := c.operator
	ctx := t.Context()

	req := &eventsv1.ListParkedEventsRequest{Service: service, PageSize: 3}
	var seen []*eventsv1.ParkedEvent
	pages := 0
	for {
		resp, err := admin.ListParkedEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.GetParkedEvents()) > 3 {
			t.Fatalf("page of %d, page size 3", len(resp.GetParkedEvents()))
		}
		seen = append(seen, resp.GetParkedEvents()...)
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("listed %d parked events in %d pages, want 7 in 3", len(seen), pages)
	}
	first := seen[0]
	if first.GetConsumer() != "ledger" || first.GetSource() != "trip" || first.GetError() != "boom" || first.GetAttempts() != 5 ||
		first.GetParkTime().AsTime().Before(time.Now().Add(-time.Hour)) || first.GetEvent().GetSequence() != 1 || first.GetEvent().GetSource() != "trip" {
		t.Errorf("first parked event: %v", first)
	}

	orphans := parkedIDs(t, admin, "orphan")
	_, err := admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Ids: orphans})
	if status.Code(err) != codes.FailedPrecondition || reason(err) != consumer.ReasonNoHandler {
		t.Errorf("replay of a consumer without handler: %v (reason %q), want FAILED_PRECONDITION %s", err, reason(err), consumer.ReasonNoHandler)
	}
	ledger := parkedIDs(t, admin, "ledger")
	resp, err := admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Ids: ledger[:2]})
	if err != nil || resp.GetReplayedCount() != 2 {
		t.Fatalf("replay by ids: %v, %v; want 2 replayed", resp, err)
	}
	dresp, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Ids: []string{ledger[4], orphans[0], "999999"}})
	if err != nil || dresp.GetDiscardedCount() != 2 {
		t.Fatalf("discard: %v, %v; want 2 discarded", dresp, err)
	}
	resp, err = admin.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{})
	if err != nil || resp.GetReplayedCount() != 2 || resp.GetFailedCount() != 0 {
		t.Fatalf("replay of all: %v, %v; want 2 replayed", resp, err)
	}
	if left := parkedIDs(t, admin, ""); !slices.Equal(left, orphans[1:]) {
		t.Errorf("left parked %v, want the orphan %v", left, orphans[1:])
	}
	var applied []int64
	rows, err := pool.Query(ctx, `SELECT seq FROM effects ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, s)
	}
	if !slices.Equal(applied, []int64{1, 2, 3, 4}) {
		t.Errorf("applied %v, want 1 2 3 4 in order (5 discarded)", applied)
	}
}
