package matching

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
)

// Limits and defaults of matches (match.proto, service.proto).
const (
	// MinOfferTimeout is the shortest offer_timeout the contract allows.
	MinOfferTimeout = 5 * time.Second
	// MaxOfferTimeout is the longest offer_timeout.
	MaxOfferTimeout = 120 * time.Second
	// DefaultOfferTimeout is the offer_timeout of a match that asks for none.
	DefaultOfferTimeout = 15 * time.Second
	// DefaultMaxAttempts is the max_attempts of a match that asks for 0.
	DefaultMaxAttempts = 3
	// MaxAttempts is the largest max_attempts.
	MaxAttempts = 10
	// MaxFanOut is the largest fan_out; 0 means 1.
	MaxFanOut = 5
	// MaxReasonLength is the longest cancel, decline or release reason, in characters.
	MaxReasonLength = 200
	// MaxTripIDLength is the longest trip id, in characters.
	MaxTripIDLength = 128
	// DefaultHeartbeat is how often WatchDriverOffers sends a heartbeat while idle.
	DefaultHeartbeat = 15 * time.Second
	// DefaultWatchPoll is how often WatchDriverOffers looks for changes other replicas
	// made.
	DefaultWatchPoll = 2 * time.Second
)

// MatchInput is a CreateMatch request: zero values take the defaults.
type MatchInput struct {
	TripID string
	// Pickup is nil when missing.
	Pickup  *Point
	Product string
	// OfferTimeout is nil when unset (DefaultOfferTimeout).
	OfferTimeout *time.Duration
	MaxAttempts  int32
	SearchRadius int32
	FanOut       int32
	// DriverID, when set, asks for a manual dispatch to this driver only.
	DriverID string
}

// effects are what a committed change of matches leaves to do in this process: the
// index learns the drivers' new statuses, watchers learn of their offers, and the
// dispatcher wakes for a match that became due. A transaction may run its function
// more than once (after a lost race), so each run starts from reset.
type effects struct {
	drivers []Driver
	notify  []string
	wake    bool
}

func (e *effects) reset() { *e = effects{} }

// moved records a driver's change of status; their offers changed too.
func (e *effects) moved(d Driver) {
	e.drivers = append(e.drivers, d)
	e.notify = append(e.notify, d.ID)
}

// apply does what a committed change left to do.
func (s *Service) apply(e *effects) {
	for _, d := range e.drivers {
		s.index.Apply(tracked(d))
	}
	for _, id := range slices.Compact(slices.Sorted(slices.Values(e.notify))) {
		s.hub.notify(id)
	}
	if e.wake {
		s.Wake()
	}
}

// inMatch runs fn in one idempotent transaction of the match lock names (Store.InMatch),
// idempotent by key: fn gets fresh effects on every attempt and returns the call's
// result, which is stored with the key. A replay returns the stored result; a first run
// applies fn's effects once the transaction has committed. what names the call in errors.
func inMatch[T any](ctx context.Context, s *Service, what string, lock MatchLock, key idempotency.Key, requestID string,
	fn func(tx MatchTx, m *Match, eff *effects) (T, error)) (T, error) {
	var eff effects
	var out, zero T
	res, replayed, err := s.store.InMatch(ctx, lock, key, func(tx MatchTx, m *Match) ([]byte, error) {
		eff.reset()
		v, err := fn(tx, m, &eff)
		if err != nil {
			return nil, err
		}
		out = v
		return encode(out)
	})
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	if replayed {
		var stored T
		if err := decode(res, requestID, &stored); err != nil {
			return zero, err
		}
		return stored, nil
	}
	s.apply(&eff)
	return out, nil
}

// encode is a result as an idempotency key stores it: the domain's own JSON.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}

// decode reads what encode stored for request id.
func decode(b []byte, requestID string, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode the result stored for request id %q: %w", requestID, err)
	}
	return nil
}

// checkReason checks an optional reason of up to MaxReasonLength characters.
func checkReason(field, s string) error {
	if s == "" {
		return nil
	}
	return checkText(field, s, MaxReasonLength)
}

// CreateMatch starts the search for a driver for a trip and returns the match
// SEARCHING; the dispatcher makes its attempts. Services and operators only. A trip has
// at most one SEARCHING, OFFERED or ASSIGNED match. It is idempotent by requestID.
func (s *Service) CreateMatch(ctx context.Context, c caller.Caller, in MatchInput, requestID string) (Match, error) {
	if err := mayManage(c, "create matches"); err != nil {
		return Match{}, err
	}
	if err := checkText("trip_id", in.TripID, MaxTripIDLength); err != nil {
		return Match{}, err
	}
	if in.Pickup == nil {
		return Match{}, errs.Invalid("pickup", "is required")
	}
	if err := CheckPoint("pickup", *in.Pickup); err != nil {
		return Match{}, err
	}
	if err := CheckProduct("product", in.Product); err != nil {
		return Match{}, err
	}
	timeout := DefaultOfferTimeout
	if in.OfferTimeout != nil {
		timeout = *in.OfferTimeout
		if timeout < s.opts.MinOfferTimeout || timeout > MaxOfferTimeout {
			return Match{}, errs.Invalid("offer_timeout", "must be %s to %s, got %s", s.opts.MinOfferTimeout, MaxOfferTimeout, timeout)
		}
	}
	if in.DriverID != "" {
		// Manual dispatch: max_attempts, search_radius_meters and fan_out are ignored.
		if err := ids.Check("driver_id", in.DriverID); err != nil {
			return Match{}, err
		}
		in.MaxAttempts, in.SearchRadius, in.FanOut = 1, 0, 1
	}
	if in.MaxAttempts < 0 || in.MaxAttempts > MaxAttempts {
		return Match{}, errs.Invalid("max_attempts", "must be 0 to %d, got %d", MaxAttempts, in.MaxAttempts)
	}
	if in.SearchRadius < 0 || in.SearchRadius > MaxRadiusMeters {
		return Match{}, errs.Invalid("search_radius_meters", "must be 0 to %d, got %d", MaxRadiusMeters, in.SearchRadius)
	}
	if in.FanOut < 0 || in.FanOut > MaxFanOut {
		return Match{}, errs.Invalid("fan_out", "must be 0 to %d, got %d", MaxFanOut, in.FanOut)
	}
	if err := checkRequestID(requestID); err != nil {
		return Match{}, err
	}
	m := Match{
		TripID: in.TripID, Pickup: *in.Pickup, Product: in.Product, Status: MatchSearching,
		MaxAttempts: cmpOr(in.MaxAttempts, DefaultMaxAttempts), FanOut: cmpOr(in.FanOut, 1),
		OfferTimeout: timeout, InitialRadius: cmpOr(in.SearchRadius, DefaultRadius),
		RequestedDriverID: in.DriverID,
	}
	if in.DriverID != "" {
		m.InitialRadius = 0 // no search: the one driver, wherever they are
	}
	m.SearchRadius = m.InitialRadius
	key := idempotencyKey("CreateMatch", c, requestID, m) // the parameters, before ids and times
	now := s.clock()
	m.ID, m.Version = ids.New(), 1
	m.DueTime, m.CreateTime, m.UpdateTime = now, now, now
	return inMatch(ctx, s, "create match", MatchLock{TripID: in.TripID}, key, requestID, func(tx MatchTx, _ *Match, eff *effects) (Match, error) {
		if in.DriverID != "" {
			d, err := tx.Driver(ctx, in.DriverID, false)
			if err != nil {
				return Match{}, err
			}
			if err := s.checkManual(d, in.Product); err != nil {
				return Match{}, err
			}
		}
		if err := tx.InsertMatch(ctx, m); err != nil {
			return Match{}, err
		}
		eff.wake = true // the dispatcher makes the first attempt
		return m, nil
	})
}

// cmpOr returns v, or def when v is 0.
func cmpOr(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// checkManual checks that driver d can be offered a manual dispatch of product.
func (s *Service) checkManual(d Driver, product string) error {
	d = s.withLocation(d)
	switch {
	case d.Status != StatusAvailable:
		return errs.Precondition(ReasonDriverNotAvailable, "the driver is %s, not AVAILABLE", d.Status)
	case !d.Vehicle.Serves(product):
		return errs.Precondition(ReasonProductNotServed, "the driver's vehicle does not serve %q", product)
	case d.Location == nil || !s.index.FreshAt(d.Location.Time):
		return errs.Precondition(ReasonDriverLocationStale, "the driver has no fresh location")
	}
	return nil
}

// GetMatch returns one match, with its offers when full; services and operators only.
func (s *Service) GetMatch(ctx context.Context, c caller.Caller, id string, full bool) (Match, error) {
	if err := mayManage(c, "read matches"); err != nil {
		return Match{}, err
	}
	if err := ids.Check("match_id", id); err != nil {
		return Match{}, err
	}
	m, err := s.store.Match(ctx, id, full)
	if err != nil {
		return Match{}, fmt.Errorf("get match: %w", err)
	}
	return m, nil
}

// CancelMatch stops match id: its pending offers are WITHDRAWN and their drivers
// AVAILABLE again; an ASSIGNED match's driver is released (matching.driver.released).
// A CANCELLED match is returned unchanged; a FAILED one cannot be cancelled. Services
// and operators only; idempotent by requestID.
func (s *Service) CancelMatch(ctx context.Context, c caller.Caller, id, reason, requestID string) (Match, error) {
	if err := mayManage(c, "cancel matches"); err != nil {
		return Match{}, err
	}
	if err := ids.Check("match_id", id); err != nil {
		return Match{}, err
	}
	if err := checkReason("reason", reason); err != nil {
		return Match{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Match{}, err
	}
	key := idempotencyKey("CancelMatch", c, requestID, []string{id, reason})
	return inMatch(ctx, s, "cancel match", MatchLock{MatchID: id}, key, requestID, func(tx MatchTx, m *Match, eff *effects) (Match, error) {
		switch m.Status {
		case MatchCancelled:
			return *m, nil
		case MatchFailed:
			return Match{}, errs.Precondition(ReasonMatchFailed, "the match FAILED; a failed match cannot be cancelled")
		}
		now := s.clock()
		next := m.clone()
		if m.Status == MatchAssigned {
			if m.ReleaseTime.IsZero() {
				if err := s.release(ctx, tx, &next, "match_cancelled", now, eff); err != nil {
					return Match{}, err
				}
			}
		} else {
			offers, err := tx.Offers(ctx, m.ID)
			if err != nil {
				return Match{}, err
			}
			if _, err := s.withdraw(ctx, tx, m.ID, offers, "", now, eff); err != nil {
				return Match{}, err
			}
		}
		next.Status, next.CancelReason, next.DueTime = MatchCancelled, reason, time.Time{}
		next.touch(now)
		if err := updateMatch(ctx, tx, next, m.Status); err != nil {
			return Match{}, err
		}
		return next, nil
	})
}

// updateMatch writes m over the locked match, which must be in status from; a change
// of status must be one of MatchStatus.CanBecome's.
func updateMatch(ctx context.Context, tx MatchTx, m Match, from MatchStatus) error {
	if m.Status != from && !from.CanBecome(m.Status) {
		return fmt.Errorf("match %s: no transition from %s to %s", m.ID, from, m.Status)
	}
	ok, err := tx.UpdateMatch(ctx, m, from)
	if err != nil {
		return err
	}
	if !ok {
		return errs.Abort("CONFLICT", "match %s changed meanwhile; retry", m.ID)
	}
	return nil
}

// SetMatchSubStatus sets or clears match id's free-form sub-status, in any status.
// Services and operators only; idempotent by requestID.
func (s *Service) SetMatchSubStatus(ctx context.Context, c caller.Caller, id, subStatus, requestID string) (Match, error) {
	if err := mayManage(c, "change matches"); err != nil {
		return Match{}, err
	}
	if err := ids.Check("match_id", id); err != nil {
		return Match{}, err
	}
	if err := checkSubStatus("sub_status", subStatus); err != nil {
		return Match{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Match{}, err
	}
	key := idempotencyKey("SetMatchSubStatus", c, requestID, []string{id, subStatus})
	return inMatch(ctx, s, "set match sub-status", MatchLock{MatchID: id}, key, requestID, func(tx MatchTx, m *Match, _ *effects) (Match, error) {
		out := *m
		if m.SubStatus == subStatus {
			return out, nil
		}
		out.SubStatus = subStatus
		out.touch(s.clock())
		if err := updateMatch(ctx, tx, out, m.Status); err != nil {
			return Match{}, err
		}
		return out, nil
	})
}

// fail ends m's search without a driver and emits matching.match.failed.
func (s *Service) fail(ctx context.Context, tx MatchTx, m Match, offers []Offer, now time.Time) error {
	next := m.clone()
	next.Status, next.DueTime, next.FailureReason = MatchFailed, time.Time{}, FailureNoDrivers
	if len(offers) > 0 {
		next.FailureReason = FailureAttemptsExhausted
	}
	next.touch(now)
	if err := updateMatch(ctx, tx, next, m.Status); err != nil {
		return err
	}
	next.Offers = offers
	return tx.Emit(Event{Type: EventTypeMatchFailed, Key: m.TripID, Match: next})
}

// distanceInt rounds a distance in meters for an offer.
func distanceInt(m float64) int32 { return int32(math.Round(m)) }
