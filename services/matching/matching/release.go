package matching

import (
	"context"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/ids"
)

// release frees the driver assigned to m (ON_TRIP for m → AVAILABLE), records the
// release in m and emits matching.driver.released.
func (s *Service) release(ctx context.Context, tx MatchTx, m *Match, reason string, now time.Time, eff *effects) error {
	d, ok, err := tx.MoveDriver(ctx, m.DriverID, StatusOnTrip, m.ID, StatusAvailable, nil, now)
	if err != nil {
		return err
	}
	m.ReleaseTime = now
	if !ok {
		return nil // not on this ride any more
	}
	eff.moved(d)
	return tx.Emit(Event{Type: EventTypeDriverReleased, Key: m.TripID, Driver: d, TripID: m.TripID, MatchID: m.ID, Reason: reason})
}

// ReleaseDriver frees driver id after their ride on trip tripID ended or was
// cancelled: ON_TRIP → AVAILABLE, with matching.driver.released; the match stays
// ASSIGNED. When the driver is not on that trip it changes nothing and returns the
// driver. Services and operators only; idempotent by requestID.
func (s *Service) ReleaseDriver(ctx context.Context, c caller.Caller, id, tripID, reason, requestID string) (Driver, error) {
	if err := mayManage(c, "release drivers"); err != nil {
		return Driver{}, err
	}
	if err := ids.Check("driver_id", id); err != nil {
		return Driver{}, err
	}
	if err := checkText("trip_id", tripID, MaxTripIDLength); err != nil {
		return Driver{}, err
	}
	if err := checkReason("reason", reason); err != nil {
		return Driver{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Driver{}, err
	}
	d, err := s.store.Driver(ctx, id)
	if err != nil {
		return Driver{}, fmt.Errorf("release driver: %w", err)
	}
	var lock MatchLock
	if d.Status == StatusOnTrip && d.CurrentTripID == tripID {
		lock.MatchID = d.CurrentMatchID
	}
	key := idempotencyKey("ReleaseDriver", c, requestID, []string{id, tripID, reason})
	d, err = inMatch(ctx, s, "release driver", lock, key, requestID, func(tx MatchTx, m *Match, eff *effects) (Driver, error) {
		if m != nil && m.Status == MatchAssigned && m.DriverID == id && m.TripID == tripID && m.ReleaseTime.IsZero() {
			now := s.clock()
			next := m.clone()
			if err := s.release(ctx, tx, &next, reason, now, eff); err != nil {
				return Driver{}, err
			}
			if err := updateMatch(ctx, tx, next, m.Status); err != nil {
				return Driver{}, err
			}
			if len(eff.drivers) == 1 {
				return eff.drivers[0], nil
			}
		}
		// Not (or no longer) on this trip: unchanged.
		return tx.Driver(ctx, id, false)
	})
	if err != nil {
		return Driver{}, err
	}
	return s.withLocation(d), nil
}
