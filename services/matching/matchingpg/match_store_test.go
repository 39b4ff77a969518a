package matchingpg_test

import (
	"errors"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/matching/matching"
)

func newMatch(trip string, now time.Time) matching.Match {
	return matching.Match{
		ID: ids.New(), TripID: trip, Pickup: matching.Point{Lat: 52.5, Lng: 13.4}, Product: "standard",
		Status: matching.MatchSearching, MaxAttempts: 3, FanOut: 1, OfferTimeout: 15 * time.Second,
		InitialRadius: 3000, SearchRadius: 3000, DueTime: now, CreateTime: now, UpdateTime: now, Version: 1,
	}
}

// TestDoubleAssignmentGuards: the database itself refuses what would give a driver two
// rides, whatever the code above it decides: a second ASSIGNED, unreleased match of a
// driver, a second PENDING offer of a driver, a second offer of one match to a driver,
// and a second active match of a trip; and the conditional driver updates change
// nothing when the driver is not in the expected state.
func TestDoubleAssignmentGuards(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	d, err := s.CreateDriver(ctx, driver("B-G", matching.StatusAvailable), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	var ms []matching.Match
	for _, trip := range []string{"trip-1", "trip-2"} {
		m := newMatch(trip, now)
		if _, _, err := s.InMatch(ctx, matching.MatchLock{TripID: trip}, idempotency.Key{}, func(tx matching.MatchTx, _ *matching.Match) ([]byte, error) {
			return nil, tx.InsertMatch(ctx, m)
		}); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	// One active match per trip.
	_, _, err = s.InMatch(ctx, matching.MatchLock{TripID: "trip-1"}, idempotency.Key{}, func(tx matching.MatchTx, _ *matching.Match) ([]byte, error) {
		return nil, tx.InsertMatch(ctx, newMatch("trip-1", now))
	})
	if !errors.Is(err, matching.ErrTripHasMatch) {
		t.Fatalf("a second active match of a trip: %v", err)
	}
	run := func(m matching.Match, fn func(tx matching.MatchTx) error) error {
		_, _, err := s.InMatch(ctx, matching.MatchLock{MatchID: m.ID}, idempotency.Key{}, func(tx matching.MatchTx, _ *matching.Match) ([]byte, error) {
			return nil, fn(tx)
		})
		return err
	}
	offer := func(m matching.Match) matching.Offer {
		return matching.Offer{ID: ids.New(), MatchID: m.ID, TripID: m.TripID, DriverID: d.ID, Pickup: m.Pickup, Product: m.Product,
			Status: matching.OfferPending, Attempt: 1, ExpireTime: now.Add(time.Minute), CreateTime: now, UpdateTime: now, Version: 1}
	}
	// The claim moves only an AVAILABLE driver; a second claim finds them OFFERED.
	if err := run(ms[0], func(tx matching.MatchTx) error {
		got, ok, err := tx.ClaimDriver(ctx, d.ID, &ms[0], now)
		if err != nil || !ok || got.Status != matching.StatusOffered || got.CurrentMatchID != ms[0].ID || got.CurrentTripID != "trip-1" {
			t.Fatalf("claim = %+v, %v, %v", got, ok, err)
		}
		if _, ok, err := tx.ClaimDriver(ctx, d.ID, &ms[1], now); ok || err != nil {
			t.Fatalf("second claim = %v, %v", ok, err)
		}
		return tx.InsertOffer(ctx, offer(ms[0]))
	}); err != nil {
		t.Fatal(err)
	}
	// A second pending offer of the driver, even if Go decided to make it.
	err = run(ms[1], func(tx matching.MatchTx) error { return tx.InsertOffer(ctx, offer(ms[1])) })
	if e, ok := errs.As(err); !ok || e.Kind != errs.FailedPrecondition || e.Reason != matching.ReasonDriverBusy {
		t.Fatalf("a second pending offer: %v", err)
	}
	// A second offer of one match to the driver.
	err = run(ms[0], func(tx matching.MatchTx) error { return tx.InsertOffer(ctx, offer(ms[0])) })
	if errs.KindOf(err) != errs.FailedPrecondition {
		t.Fatalf("a second offer of the match: %v", err)
	}
	// A driver moves only from the state the change expects.
	if err := run(ms[1], func(tx matching.MatchTx) error {
		if _, ok, err := tx.MoveDriver(ctx, d.ID, matching.StatusOffered, ms[1].ID, matching.StatusOnTrip, &ms[1], now); ok || err != nil {
			t.Fatalf("moved a driver held for another match: %v, %v", ok, err)
		}
		if _, ok, err := tx.MoveDriver(ctx, d.ID, matching.StatusOnTrip, "", matching.StatusAvailable, nil, now); ok || err != nil {
			t.Fatalf("moved a driver from a status they are not in: %v, %v", ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Two ASSIGNED, unreleased matches of one driver, even if Go decided so.
	assign := func(m matching.Match) error {
		return run(m, func(tx matching.MatchTx) error {
			m.Status, m.DriverID, m.AssignTime, m.DueTime, m.Version = matching.MatchAssigned, d.ID, now, time.Time{}, m.Version+1
			ok, err := tx.UpdateMatch(ctx, m, matching.MatchSearching)
			if err == nil && !ok {
				t.Fatal("the match was not SEARCHING")
			}
			return err
		})
	}
	if err := assign(ms[0]); err != nil {
		t.Fatal(err)
	}
	err = assign(ms[1])
	if e, ok := errs.As(err); !ok || e.Kind != errs.FailedPrecondition || e.Reason != matching.ReasonDriverBusy {
		t.Fatalf("a second assignment: %v", err)
	}
	// Released, the driver may be assigned again.
	if err := run(ms[0], func(tx matching.MatchTx) error {
		m := ms[0]
		m.Status, m.DriverID, m.AssignTime, m.ReleaseTime, m.DueTime, m.Version = matching.MatchAssigned, d.ID, now, now, time.Time{}, 3
		_, err := tx.UpdateMatch(ctx, m, matching.MatchAssigned)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := assign(ms[1]); err != nil {
		t.Fatalf("assignment after the release: %v", err)
	}
}

// TestDispatchPostponesAFailedStep: the dispatcher takes a due match; when its step
// fails, the match's due time moves ahead, so one match that cannot be stepped does not
// hold up the queue behind it; a match not due is not taken.
func TestDispatchPostponesAFailedStep(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	now := t0
	bad, good := newMatch("trip-bad", now.Add(-2*time.Second)), newMatch("trip-good", now.Add(-time.Second))
	later := newMatch("trip-later", now.Add(time.Minute))
	for _, m := range []matching.Match{bad, good, later} {
		if _, _, err := s.InMatch(ctx, matching.MatchLock{}, idempotency.Key{}, func(tx matching.MatchTx, _ *matching.Match) ([]byte, error) {
			return nil, tx.InsertMatch(ctx, m)
		}); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("boom")
	found, err := s.Dispatch(ctx, now, func(_ matching.MatchTx, m matching.Match) error {
		if m.ID != bad.ID {
			t.Fatalf("took %s first, want the earliest due", m.TripID)
		}
		return boom
	})
	if !found || !errors.Is(err, boom) {
		t.Fatalf("Dispatch = %v, %v", found, err)
	}
	var took []string
	for {
		found, err := s.Dispatch(ctx, now, func(tx matching.MatchTx, m matching.Match) error {
			took = append(took, m.TripID)
			m.DueTime = time.Time{}
			_, err := tx.UpdateMatch(ctx, m, m.Status)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
	}
	if len(took) != 1 || took[0] != "trip-good" {
		t.Fatalf("took %v, want only trip-good (trip-bad postponed, trip-later not due)", took)
	}
	got, err := s.Match(ctx, bad.ID, false)
	if err != nil || !got.DueTime.After(now) {
		t.Fatalf("the failed match is due at %v, %v; want after %v", got.DueTime, err, now)
	}
}
