package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
)

func statusCode(err error) string { return status.Code(err).String() }

// badRequestField returns the field a BadRequest detail of err names.
func badRequestField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// Bad input to the admin RPCs gets INVALID_ARGUMENT naming the field and changes nothing.
func TestAdminRejectsBadInput(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	for seq := 1; seq <= 3; seq++ {
		_, err := pool.Exec(t.Context(), `INSERT INTO parked_events (consumer, source, seq, event_id, type, key, error, attempts)
			VALUES ('ledger', 'trip', $1, $2, 'shop.item.changed', 'k', 'boom', 5)`, seq, newID())
		if err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int64
	admin, _ := serveAdmin(t, pool, map[string]consumer.Handler{"ledger": func(context.Context, pgx.Tx, *eventsv1.Event) error {
		calls.Add(1)
		return nil
	}})
	ids := listIDs(t, pool)
	snapshot := func() string {
		rows, err := pool.Query(t.Context(), `SELECT id, error, attempts FROM parked_events ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for rows.Next() {
			var id, attempts int64
			var e string
			if err := rows.Scan(&id, &e, &attempts); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%d %q %d\n", id, e, attempts)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	before := snapshot()

	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"negative page size", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageSize: -1})
			return err
		}, "page_size"},
		{"huge page size", func() error {
			_, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageSize: consumer.MaxPageSize + 1})
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
			_, err := admin.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Ids: make([]string, consumer.MaxIDs+1)})
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
	if after := snapshot(); after != before || count(t, pool, `SELECT count(*) FROM parked_events`) != 3 || calls.Load() != 0 {
		t.Errorf("bad input changed something: %d parked, %d handler calls", count(t, pool, `SELECT count(*) FROM parked_events`), calls.Load())
	}

	// The limits themselves are fine.
	for _, size := range []int32{0, 1, consumer.MaxPageSize} {
		if _, err := admin.ListParkedEvents(ctx, &eventsv1.ListParkedEventsRequest{PageSize: size, Service: "shop"}); err != nil {
			t.Errorf("page size %d: %v", size, err)
		}
	}
}
