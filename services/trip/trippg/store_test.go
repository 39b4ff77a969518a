package trippg_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/trip/trip"
	"github.com/waybill/waybill/services/trip/trippg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) (*trippg.Store, func(string) int) {
	t.Helper()
	pool := pgtest.NewDB(t, "trip", trippg.Migrations)
	s := trippg.New(pool, trippg.Options{TripEvent: func(tr trip.Trip, _ trip.Status) proto.Message { return wrapperspb.String(tr.ID) }})
	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return s, count
}

var now = time.Now().UTC().Truncate(time.Microsecond)

func newTrip(customer string) trip.Trip {
	return trip.Trip{ID: ids.New(), CustomerID: customer, Pickup: trip.Point{Lat: 52.5, Lng: 13.4}, Dropoff: trip.Point{Lat: 52.6, Lng: 13.3},
		Product: "standard", City: "berlin", Status: trip.StatusRequested, MatchRequestID: ids.New(),
		Estimate: money.New(1200, "EUR"), QuoteID: ids.New(), SurgeBps: 10000,
		Timeline: []trip.TimelineEntry{{Time: now, Label: "requested"}}, CreateTime: now, UpdateTime: now, Version: 1}
}

func wantKind(t *testing.T, err error, kind errs.Kind, reason string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != kind || (reason != "" && e.Reason != reason) {
		t.Fatalf("error %v, want %v %s", err, kind, reason)
	}
}

// TestPendingThenPublished: an unpublished request is invisible, holds the rider's one
// active trip, and is published with its event and its key completed in one go; one
// being abandoned cannot be published.
func TestPendingThenPublished(t *testing.T) {
	t.Parallel()
	s, count := newStore(t)
	ctx := context.Background()
	tr := newTrip("c-1")
	k := idempotency.Key{Method: "RequestTrip", Subject: "c-1", RequestID: "r-1", Hash: idempotency.Fingerprint("x")}
	stored, lease, err := s.BeginRequest(ctx, k, tr)
	if err != nil || stored.ID != tr.ID || stored.Published || lease.Replayed {
		t.Fatalf("BeginRequest = %v, %+v, %v", stored, lease, err)
	}
	// While the first attempt holds the key, a retry is told so.
	_, _, err = s.BeginRequest(ctx, k, newTrip("c-1"))
	wantKind(t, err, errs.Aborted, idempotency.ReasonRequestInProgress)
	// Another request of the rider is refused, and stores nothing (no key either).
	k2 := idempotency.Key{Method: "RequestTrip", Subject: "c-1", RequestID: "r-2", Hash: idempotency.Fingerprint("y")}
	_, _, err = s.BeginRequest(ctx, k2, newTrip("c-1"))
	wantKind(t, err, errs.FailedPrecondition, trip.ReasonActiveTripExists)
	if _, found, err := s.LookupRequest(ctx, k2); found || err != nil {
		t.Fatalf("a refused request left its key: %v, %v", found, err)
	}
	_, err = s.Trip(ctx, tr.ID, trip.ViewBasic)
	wantKind(t, err, errs.NotFound, "")
	if list, _ := s.ListTrips(ctx, trip.Filter{}, nil, 10); len(list) != 0 {
		t.Fatalf("an unpublished trip is listed: %v", list)
	}
	_, err = s.Update(ctx, tr.ID, idempotency.Key{}, false, func(t trip.Trip) (trip.Change, error) { return trip.Change{Unchanged: true}, nil })
	wantKind(t, err, errs.Unavailable, "TRIP_PENDING")

	out, err := s.Publish(ctx, tr.ID, "m-1", now, lease)
	if err != nil || !out.Published || out.MatchID != "m-1" {
		t.Fatalf("Publish = %v, %v", out, err)
	}
	if n := count("SELECT count(*) FROM outbox") + count("SELECT count(*) FROM event_log"); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	if id, found, err := s.LookupRequest(ctx, k); !found || id != tr.ID || err != nil {
		t.Fatalf("a retry's lookup = %s, %v, %v", id, found, err)
	}
	_, replay, err := s.BeginRequest(ctx, k, newTrip("c-1"))
	if err != nil || !replay.Replayed || string(replay.Result) != tr.ID {
		t.Fatalf("a racing retry's claim = %+v, %v", replay, err)
	}

	other := newTrip("c-2")
	if _, _, err := s.BeginRequest(ctx, idempotency.Key{}, other); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.MarkAbandoning(ctx, other.ID); !ok || err != nil {
		t.Fatalf("MarkAbandoning = %v, %v", ok, err)
	}
	_, err = s.Publish(ctx, other.ID, "m-2", now, idempotency.Lease{})
	wantKind(t, err, errs.Unavailable, trip.ReasonRequestBeingCleanedUp)
	if err := s.DeletePending(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePending(ctx, tr.ID); err != nil { // published: not deleted
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM trip"); n != 1 {
		t.Fatalf("%d trips, want the published one", n)
	}
}

// TestRoutePoints: a time is recorded once; the last point is the latest by time, not by
// arrival; the version moves only when a point was added.
func TestRoutePoints(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	tr := newTrip("c-1")
	if _, _, err := s.BeginRequest(ctx, idempotency.Key{}, tr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, tr.ID, "m", now, idempotency.Lease{}); err != nil {
		t.Fatal(err)
	}
	pt := func(lat float64, sec int) trip.RoutePoint {
		return trip.RoutePoint{Point: trip.Point{Lat: lat, Lng: 13}, Time: now.Add(time.Duration(sec) * time.Second)}
	}
	add := func(points ...trip.RoutePoint) (int, trip.Trip) {
		t.Helper()
		n, out, err := s.AddRoutePoints(ctx, tr.ID, func(trip.Trip) ([]trip.RoutePoint, error) { return points, nil }, now)
		if err != nil {
			t.Fatal(err)
		}
		return n, out
	}
	n, out := add(pt(52.1, 10), pt(52.3, 30))
	if n != 2 || out.Version != 2 || out.LastRoutePoint.Point.Lat != 52.3 {
		t.Fatalf("first batch: %d added, %+v", n, out)
	}
	n, out = add(pt(52.2, 20), pt(52.3, 30)) // one late point, one repeat
	if n != 1 || out.Version != 3 || out.LastRoutePoint.Point.Lat != 52.3 {
		t.Fatalf("second batch: %d added, version %d, last %+v", n, out.Version, out.LastRoutePoint)
	}
	n, out = add(pt(52.3, 30))
	if n != 0 || out.Version != 3 {
		t.Fatalf("a repeat: %d added, version %d", n, out.Version)
	}
	full, err := s.Trip(ctx, tr.ID, trip.ViewFull)
	if err != nil || len(full.Route) != 3 || full.Route[1].Point.Lat != 52.2 {
		t.Fatalf("route = %+v, %v", full.Route, err)
	}
}

// TestTasks: a change's owed calls are recorded once, claimed by one runner for the
// lease, rescheduled on failure and deleted when done.
func TestTasks(t *testing.T) {
	t.Parallel()
	s, count := newStore(t)
	ctx := context.Background()
	tr := newTrip("c-1")
	if _, _, err := s.BeginRequest(ctx, idempotency.Key{}, tr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, tr.ID, "m", now, idempotency.Lease{}); err != nil {
		t.Fatal(err)
	}
	owe := func(cur trip.Trip) (trip.Change, error) {
		return trip.Change{Unchanged: true, Trip: cur, Tasks: []trip.Task{{TripID: cur.ID, Kind: trip.TaskCancelMatch, MatchID: "m"}}}, nil
	}
	for range 2 {
		if _, err := s.Update(ctx, tr.ID, idempotency.Key{}, false, owe); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("SELECT count(*) FROM matching_task"); n != 1 {
		t.Fatalf("%d tasks, want 1", n)
	}
	at := time.Now()
	got, err := s.ClaimTasks(ctx, at, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Kind != trip.TaskCancelMatch || got[0].Attempts != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	if again, _ := s.ClaimTasks(ctx, at, time.Minute, 10); len(again) != 0 {
		t.Fatalf("a claimed task was handed out again: %+v", again)
	}
	if err := s.RetryTask(ctx, got[0].ID, at.Add(-time.Second), "matching down"); err != nil {
		t.Fatal(err)
	}
	again, _ := s.ClaimTasks(ctx, at, time.Minute, 10)
	if len(again) != 1 || again[0].Attempts != 2 {
		t.Fatalf("rescheduled claim = %+v", again)
	}
	if err := s.FinishTask(ctx, again[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM matching_task"); n != 0 {
		t.Fatalf("%d tasks left", n)
	}
	// The change and its event are one transaction: a failing change writes neither.
	before := count("SELECT count(*) FROM outbox") + count("SELECT count(*) FROM event_log")
	_, err = s.Update(ctx, tr.ID, idempotency.Key{}, false, func(cur trip.Trip) (trip.Change, error) {
		return trip.Change{}, errs.Precondition("NOPE", "refused")
	})
	wantKind(t, err, errs.FailedPrecondition, "NOPE")
	if after := count("SELECT count(*) FROM outbox") + count("SELECT count(*) FROM event_log"); after != before {
		t.Fatal("a refused change emitted an event")
	}
}
