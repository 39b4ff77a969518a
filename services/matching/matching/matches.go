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
	if in.MaxAttempts < 0 || in.MaxAttempts > MaxAttempts {
		return Match{}, errs.Invalid("max_attempts", "must be 0 to %d, got %d", MaxAttempts, in.MaxAttempts)
	}
	if in.SearchRadius < 0 || in.SearchRadius > MaxRadiusMeters {
		return Match{}, errs.Invalid("search_radius_meters", "must be 0 to %d, got %d", MaxRadiusMeters, in.SearchRadius)
	}
	if in.FanOut < 0 || in.FanOut > MaxFanOut {
		return Match{}, errs.Invalid("fan_out", "must be 0 to %d, got %d", MaxFanOut, in.FanOut)
	}
	if in.DriverID != "" {
		if err := ids.Check("driver_id", in.DriverID); err != nil {
			return Match{}, err
		}
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
	if in.DriverID != "" { // manual dispatch: one offer to this driver, once
		m.MaxAttempts, m.FanOut, m.InitialRadius = 1, 1, 0
	}
	m.SearchRadius = m.InitialRadius
	key := idempotencyKey("CreateMatch", c, requestID, m) // the parameters, before ids and times
	now := s.clock()
	m.ID, m.Version = ids.New(), 1
	m.DueTime, m.CreateTime, m.UpdateTime = now, now, now
	res, replayed, err := s.store.InMatch(ctx, MatchLock{TripID: in.TripID}, key, func(tx MatchTx, _ *Match) ([]byte, error) {
		if in.DriverID != "" {
			d, err := tx.Driver(ctx, in.DriverID, false)
			if err != nil {
				return nil, err
			}
			if err := s.checkManual(d, in.Product); err != nil {
				return nil, err
			}
		}
		if err := tx.InsertMatch(ctx, m); err != nil {
			return nil, err
		}
		return encode(m)
	})
	if err != nil {
		return Match{}, fmt.Errorf("create match: %w", err)
	}
	if replayed {
		m = Match{}
		if err := decode(res, requestID, &m); err != nil {
			return Match{}, err
		}
	}
	s.Wake()
	return m, nil
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
	var eff effects
	var out Match
	res, replayed, err := s.store.InMatch(ctx, MatchLock{MatchID: id}, key, func(tx MatchTx, m *Match) ([]byte, error) {
		eff.reset()
		switch m.Status {
		case MatchCancelled:
			out = *m
			return encode(out)
		case MatchFailed:
			return nil, errs.Precondition(ReasonMatchFailed, "the match FAILED; a failed match cannot be cancelled")
		}
		now := s.clock()
		next := m.clone()
		if m.Status == MatchAssigned {
			if m.ReleaseTime.IsZero() {
				if err := s.release(ctx, tx, &next, "match_cancelled", now, &eff); err != nil {
					return nil, err
				}
			}
		} else {
			offers, err := tx.Offers(ctx, m.ID)
			if err != nil {
				return nil, err
			}
			if _, err := s.withdraw(ctx, tx, m.ID, offers, "", now, &eff); err != nil {
				return nil, err
			}
		}
		next.Status, next.CancelReason, next.DueTime = MatchCancelled, reason, time.Time{}
		next.touch(now)
		if err := updateMatch(ctx, tx, next, m.Status); err != nil {
			return nil, err
		}
		out = next
		return encode(out)
	})
	if err != nil {
		return Match{}, fmt.Errorf("cancel match: %w", err)
	}
	if replayed {
		return out, decode(res, requestID, &out)
	}
	s.apply(&eff)
	return out, nil
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

// withdraw takes back every pending offer of match matchID but keep's, and makes their
// drivers AVAILABLE; it returns the offers after the change.
func (s *Service) withdraw(ctx context.Context, tx MatchTx, matchID string, offers []Offer, keep string, now time.Time, eff *effects) ([]Offer, error) {
	offers = slices.Clone(offers)
	for i, o := range offers {
		if o.Status != OfferPending || o.ID == keep {
			continue
		}
		o.resolve(OfferWithdrawn, now)
		if err := s.endOffer(ctx, tx, o, now, eff); err != nil {
			return nil, err
		}
		offers[i] = o
	}
	return offers, nil
}

// endOffer writes o, which left PENDING (declined, expired or withdrawn), and makes its
// driver AVAILABLE again.
func (s *Service) endOffer(ctx context.Context, tx MatchTx, o Offer, now time.Time, eff *effects) error {
	ok, err := tx.ResolveOffer(ctx, o, time.Time{})
	if err != nil {
		return err
	}
	if !ok {
		return errs.Abort("CONFLICT", "offer %s changed meanwhile; retry", o.ID)
	}
	d, ok, err := tx.MoveDriver(ctx, o.DriverID, StatusOffered, o.MatchID, StatusAvailable, nil, now)
	if err != nil {
		return err
	}
	if ok {
		eff.moved(d)
	} else {
		eff.notify = append(eff.notify, o.DriverID)
	}
	return nil
}

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
	var out Match
	res, replayed, err := s.store.InMatch(ctx, MatchLock{MatchID: id}, key, func(tx MatchTx, m *Match) ([]byte, error) {
		out = *m
		if m.SubStatus == subStatus {
			return encode(out)
		}
		out.SubStatus = subStatus
		out.touch(s.clock())
		if err := updateMatch(ctx, tx, out, m.Status); err != nil {
			return nil, err
		}
		return encode(out)
	})
	if err != nil {
		return Match{}, fmt.Errorf("set match sub-status: %w", err)
	}
	if replayed {
		return out, decode(res, requestID, &out)
	}
	return out, nil
}

// offerOf reads offer id and checks that c may answer it: operators, services and the
// offer's driver.
func (s *Service) offerOf(ctx context.Context, c caller.Caller, id string) (Offer, error) {
	o, err := s.store.Offer(ctx, id)
	if err != nil {
		return Offer{}, err
	}
	if err := mayActFor(c, o.DriverID); err != nil {
		return Offer{}, errs.Denied("", "only the offer's driver, operators and services may answer an offer")
	}
	return o, nil
}

// findOffer returns the offer of offers with id.
func findOffer(offers []Offer, id string) (int, error) {
	i := slices.IndexFunc(offers, func(o Offer) bool { return o.ID == id })
	if i < 0 {
		return 0, errs.Missing("", "offer %s not found", id)
	}
	return i, nil
}

// AcceptOffer accepts offer id for its driver, in one transaction of conditional
// updates: the offer PENDING and unexpired → ACCEPTED, the match OFFERED → ASSIGNED,
// the driver OFFERED for this match → ON_TRIP; the match's other pending offers are
// WITHDRAWN. It emits matching.driver.assigned. An ACCEPTED offer is returned
// unchanged; idempotent by requestID.
func (s *Service) AcceptOffer(ctx context.Context, c caller.Caller, id, requestID string) (Accepted, error) {
	if err := ids.Check("offer_id", id); err != nil {
		return Accepted{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Accepted{}, err
	}
	o, err := s.offerOf(ctx, c, id)
	if err != nil {
		return Accepted{}, fmt.Errorf("accept offer: %w", err)
	}
	key := idempotencyKey("AcceptOffer", c, requestID, []string{id})
	var eff effects
	var out Accepted
	res, replayed, err := s.store.InMatch(ctx, MatchLock{MatchID: o.MatchID, Offers: true}, key, func(tx MatchTx, m *Match) ([]byte, error) {
		eff.reset()
		offers := slices.Clone(m.Offers)
		i, err := findOffer(offers, id)
		if err != nil {
			return nil, err
		}
		cur := offers[i]
		now := s.clock()
		switch cur.Status {
		case OfferAccepted:
			m.Offers = nil
			out = Accepted{Offer: cur, Match: *m}
			return encode(out)
		case OfferDeclined:
			return nil, errs.Precondition(ReasonOfferDeclined, "the offer was declined")
		case OfferExpired:
			return nil, errs.Precondition(ReasonOfferExpired, "the offer expired at %s", cur.ExpireTime.Format(time.RFC3339Nano))
		case OfferWithdrawn:
			return nil, errs.Precondition(ReasonOfferWithdrawn, "the offer was withdrawn")
		}
		if !now.Before(cur.ExpireTime) {
			return nil, errs.Precondition(ReasonOfferExpired, "the offer expired at %s", cur.ExpireTime.Format(time.RFC3339Nano))
		}
		acc := cur
		acc.resolve(OfferAccepted, now)
		next := m.clone()
		next.Offers = nil
		next.Status, next.DriverID, next.AssignTime, next.DueTime = MatchAssigned, cur.DriverID, now, time.Time{}
		next.touch(now)
		// One round trip of conditional updates: offer PENDING and unexpired, match
		// OFFERED, driver OFFERED for this match.
		d, ok, err := tx.Assign(ctx, acc, next, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errs.Abort("CONFLICT", "offer %s, its match or its driver changed meanwhile; retry", id)
		}
		eff.moved(d)
		offers[i] = acc
		if offers, err = s.withdraw(ctx, tx, m.ID, offers, acc.ID, now, &eff); err != nil {
			return nil, err
		}
		full := next.clone()
		full.Offers = offers
		if err := tx.Emit(Event{Type: EventTypeDriverAssigned, Key: m.TripID, Match: full, Driver: s.withLocation(d), Offer: acc}); err != nil {
			return nil, err
		}
		out = Accepted{Offer: acc, Match: next}
		return encode(out)
	})
	if err != nil {
		return Accepted{}, fmt.Errorf("accept offer: %w", err)
	}
	if replayed {
		return out, decode(res, requestID, &out)
	}
	s.apply(&eff)
	return out, nil
}

// DeclineOffer declines offer id: PENDING → DECLINED (EXPIRED when its time is up),
// the driver AVAILABLE again, and the match goes on: when none of the attempt's offers
// is pending, the next attempt starts, or the match fails. An offer already DECLINED,
// EXPIRED or WITHDRAWN is returned unchanged; an ACCEPTED one cannot be declined.
// Idempotent by requestID.
func (s *Service) DeclineOffer(ctx context.Context, c caller.Caller, id, reason, requestID string) (Offer, error) {
	if err := ids.Check("offer_id", id); err != nil {
		return Offer{}, err
	}
	if err := checkReason("reason", reason); err != nil {
		return Offer{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Offer{}, err
	}
	o, err := s.offerOf(ctx, c, id)
	if err != nil {
		return Offer{}, fmt.Errorf("decline offer: %w", err)
	}
	key := idempotencyKey("DeclineOffer", c, requestID, []string{id, reason})
	var eff effects
	var out Offer
	res, replayed, err := s.store.InMatch(ctx, MatchLock{MatchID: o.MatchID}, key, func(tx MatchTx, m *Match) ([]byte, error) {
		eff.reset()
		offers, err := tx.Offers(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		i, err := findOffer(offers, id)
		if err != nil {
			return nil, err
		}
		cur := offers[i]
		switch cur.Status {
		case OfferAccepted:
			return nil, errs.Precondition(ReasonOfferAccepted, "the offer was accepted; the ride is cancelled through trip")
		case OfferDeclined, OfferExpired, OfferWithdrawn:
			out = cur
			return encode(out)
		}
		now := s.clock()
		next := cur
		if now.Before(cur.ExpireTime) {
			next.resolve(OfferDeclined, now)
			next.DeclineReason = reason
		} else {
			next.resolve(OfferExpired, now) // too late: it expired
		}
		if err := s.endOffer(ctx, tx, next, now, &eff); err != nil {
			return nil, err
		}
		offers[i] = next
		if err := s.afterOffers(ctx, tx, *m, offers, now, &eff); err != nil {
			return nil, err
		}
		out = next
		return encode(out)
	})
	if err != nil {
		return Offer{}, fmt.Errorf("decline offer: %w", err)
	}
	if replayed {
		return out, decode(res, requestID, &out)
	}
	s.apply(&eff)
	return out, nil
}

// afterOffers ends m's attempt when none of its offers is pending any more: the next
// attempt is due at once, or, after the last one, the match fails.
func (s *Service) afterOffers(ctx context.Context, tx MatchTx, m Match, offers []Offer, now time.Time, eff *effects) error {
	if m.Status != MatchOffered || slices.ContainsFunc(offers, func(o Offer) bool { return o.Status == OfferPending }) {
		return nil
	}
	if m.AttemptCount >= m.MaxAttempts {
		return s.fail(ctx, tx, m, offers, now)
	}
	next := m.clone()
	next.Status, next.DueTime = MatchSearching, now
	next.touch(now)
	eff.wake = true
	return updateMatch(ctx, tx, next, m.Status)
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
	var eff effects
	var out Driver
	res, replayed, err := s.store.InMatch(ctx, lock, key, func(tx MatchTx, m *Match) ([]byte, error) {
		eff.reset()
		if m != nil && m.Status == MatchAssigned && m.DriverID == id && m.TripID == tripID && m.ReleaseTime.IsZero() {
			now := s.clock()
			next := m.clone()
			if err := s.release(ctx, tx, &next, reason, now, &eff); err != nil {
				return nil, err
			}
			if err := updateMatch(ctx, tx, next, m.Status); err != nil {
				return nil, err
			}
			if len(eff.drivers) == 1 {
				out = eff.drivers[0]
				return encode(out)
			}
		}
		// Not (or no longer) on this trip: unchanged.
		cur, err := tx.Driver(ctx, id, false)
		if err != nil {
			return nil, err
		}
		out = cur
		return encode(out)
	})
	if err != nil {
		return Driver{}, fmt.Errorf("release driver: %w", err)
	}
	if replayed {
		if err := decode(res, requestID, &out); err != nil {
			return Driver{}, err
		}
		return s.withLocation(out), nil
	}
	s.apply(&eff)
	return s.withLocation(out), nil
}

// distanceInt rounds a distance in meters for an offer.
func distanceInt(m float64) int32 { return int32(math.Round(m)) }
