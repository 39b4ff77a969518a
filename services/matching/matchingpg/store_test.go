package matchingpg_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/matching/matching"
	"github.com/waybill/waybill/services/matching/matchingpg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) *matchingpg.Store {
	pool := pgtest.NewDB(t, "matching", matchingpg.Migrations)
	return matchingpg.New(pool, matchingpg.Options{Encode: func(matching.Event) (proto.Message, error) { return &emptypb.Empty{}, nil }})
}

func driver(plate string, status matching.Status) matching.Driver {
	return matching.Driver{
		ID: ids.New(), Name: "Dana", City: "berlin", Status: status, Version: 1, CreateTime: t0, UpdateTime: t0,
		Vehicle: matching.Vehicle{Plate: plate, Model: "Prius", Products: []string{"standard", "xl"}},
	}
}

func fixAt(lat float64, at time.Time) matching.Fix {
	return matching.Fix{Point: matching.Point{Lat: lat, Lng: 13.4}, Time: at, AccuracyMeters: 5, HeadingDegrees: 90, SpeedMPS: 3}
}

// TestSaveLocations: a batch writes each driver's fix unless a newer one is stored,
// skips drivers that do not exist, and TrackedDrivers reads the drivers who are not
// OFFLINE with their fixes.
func TestSaveLocations(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	var online, offline matching.Driver
	for i, d := range []matching.Driver{driver("B-1", matching.StatusAvailable), driver("B-2", matching.StatusOffline)} {
		got, err := s.CreateDriver(ctx, d, idempotency.Key{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			online = got
		} else {
			offline = got
		}
	}
	if err := s.SaveLocations(ctx, []matching.Position{
		{DriverID: online.ID, Fix: fixAt(52.5, t0)},
		{DriverID: offline.ID, Fix: fixAt(48.1, t0)},
		{DriverID: ids.New(), Fix: fixAt(1, t0)}, // no such driver: skipped
	}); err != nil {
		t.Fatal(err)
	}
	// An older fix does not overwrite; a newer one does.
	if err := s.SaveLocations(ctx, []matching.Position{
		{DriverID: online.ID, Fix: fixAt(10, t0.Add(-time.Second))},
		{DriverID: offline.ID, Fix: fixAt(48.2, t0.Add(time.Second))},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Driver(ctx, online.ID)
	if err != nil || got.Location == nil || *got.Location != fixAt(52.5, t0) || got.Version != 1 {
		t.Fatalf("driver after an older fix: %+v, %v", got, err)
	}
	if got, _ := s.Driver(ctx, offline.ID); got.Location == nil || got.Location.Point.Lat != 48.2 {
		t.Fatalf("driver after a newer fix: %+v", got)
	}
	ts, err := s.TrackedDrivers(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != online.ID || ts[0].Status != matching.StatusAvailable ||
		ts[0].Location == nil || *ts[0].Location != fixAt(52.5, t0) || len(ts[0].Products) != 2 {
		t.Fatalf("TrackedDrivers = %+v, %v", ts, err)
	}
}

// TestUpdateDriverStore: a change is written with its events, a change that writes
// nothing keeps the row, the function's error is returned as is, and an unknown driver
// is NOT_FOUND.
func TestUpdateDriverStore(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	d, err := s.CreateDriver(ctx, driver("B-3", matching.StatusOffline), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.UpdateDriver(ctx, d.ID, idempotency.Key{}, func(cur matching.Driver) (matching.Change, error) {
		cur.Status, cur.Version, cur.SubStatus = matching.StatusAvailable, cur.Version+1, "on_shift"
		return matching.Change{Driver: cur, Write: true, Events: []matching.Event{{Type: matching.EventTypeDriverAvailabilityChanged, Key: d.ID}}}, nil
	})
	if err != nil || out.Version != 2 {
		t.Fatalf("update = %+v, %v", out, err)
	}
	if got, _ := s.Driver(ctx, d.ID); got.Status != matching.StatusAvailable || got.SubStatus != "on_shift" || got.Version != 2 {
		t.Fatalf("stored %+v", got)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateDriver(ctx, d.ID, idempotency.Key{}, func(matching.Driver) (matching.Change, error) { return matching.Change{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("the function's error came back as %v", err)
	}
	if _, err := s.UpdateDriver(ctx, ids.New(), idempotency.Key{}, func(cur matching.Driver) (matching.Change, error) {
		return matching.Change{Driver: cur}, nil
	}); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("unknown driver: %v", err)
	}
	// A plate taken in the city.
	e, err := s.CreateDriver(ctx, driver("B-4", matching.StatusOffline), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateDriver(ctx, e.ID, idempotency.Key{}, func(cur matching.Driver) (matching.Change, error) {
		cur.Vehicle.Plate, cur.Version = "b-3", cur.Version+1
		return matching.Change{Driver: cur, Write: true}, nil
	})
	if !errors.Is(err, matching.ErrPlateTaken) {
		t.Fatalf("taken plate: %v", err)
	}
}
