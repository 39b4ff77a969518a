package matching

import (
	"context"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
)

// answerable returns a copy of m's offers and the index of offer id among them, once c
// may answer it: NOT_FOUND for an unknown offer, PERMISSION_DENIED unless c is the offer's
// driver, an operator or a service.
func answerable(c caller.Caller, m *Match, id string) ([]Offer, int, error) {
	offers := slices.Clone(m.Offers)
	i := slices.IndexFunc(offers, func(o Offer) bool { return o.ID == id })
	if i < 0 {
		return nil, 0, errs.Missing("", "offer %s not found", id)
	}
	if err := mayActFor(c, offers[i].DriverID); err != nil {
		return nil, 0, errs.Denied("", "only the offer's driver, operators and services may answer an offer")
	}
	return offers, i, nil
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
	key := idempotencyKey("AcceptOffer", c, requestID, []string{id})
	// The match is locked by the offer, with its offers, in the round trip that begins
	// the transaction; the three conditional updates follow in one more.
	return inMatch(ctx, s, "accept offer", MatchLock{OfferID: id}, key, requestID, func(tx MatchTx, m *Match, eff *effects) (Accepted, error) {
		offers, i, err := answerable(c, m, id)
		if err != nil {
			return Accepted{}, err
		}
		cur := offers[i]
		now := s.clock()
		switch cur.Status {
		case OfferAccepted:
			m.Offers = nil
			return Accepted{Offer: cur, Match: *m}, nil
		case OfferDeclined:
			return Accepted{}, errs.Precondition(ReasonOfferDeclined, "the offer was declined")
		case OfferExpired:
			return Accepted{}, errs.Precondition(ReasonOfferExpired, "the offer expired at %s", cur.ExpireTime.Format(time.RFC3339Nano))
		case OfferWithdrawn:
			return Accepted{}, errs.Precondition(ReasonOfferWithdrawn, "the offer was withdrawn")
		}
		if !now.Before(cur.ExpireTime) {
			return Accepted{}, errs.Precondition(ReasonOfferExpired, "the offer expired at %s", cur.ExpireTime.Format(time.RFC3339Nano))
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
			return Accepted{}, err
		}
		if !ok {
			return Accepted{}, errs.Abort("CONFLICT", "offer %s, its match or its driver changed meanwhile; retry", id)
		}
		eff.moved(d)
		offers[i] = acc
		if offers, err = s.withdraw(ctx, tx, m.ID, offers, acc.ID, now, eff); err != nil {
			return Accepted{}, err
		}
		full := next.clone()
		full.Offers = offers
		if err := tx.Emit(Event{Type: EventTypeDriverAssigned, Key: m.TripID, Match: full, Driver: s.withLocation(d), Offer: acc}); err != nil {
			return Accepted{}, err
		}
		return Accepted{Offer: acc, Match: next}, nil
	})
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
	key := idempotencyKey("DeclineOffer", c, requestID, []string{id, reason})
	return inMatch(ctx, s, "decline offer", MatchLock{OfferID: id}, key, requestID, func(tx MatchTx, m *Match, eff *effects) (Offer, error) {
		offers, i, err := answerable(c, m, id)
		if err != nil {
			return Offer{}, err
		}
		cur := offers[i]
		switch cur.Status {
		case OfferAccepted:
			return Offer{}, errs.Precondition(ReasonOfferAccepted, "the offer was accepted; the ride is cancelled through trip")
		case OfferDeclined, OfferExpired, OfferWithdrawn:
			return cur, nil
		}
		now := s.clock()
		next := cur
		if now.Before(cur.ExpireTime) {
			next.resolve(OfferDeclined, now)
			next.DeclineReason = reason
		} else {
			next.resolve(OfferExpired, now) // too late: it expired
		}
		if err := s.endOffer(ctx, tx, next, now, eff); err != nil {
			return Offer{}, err
		}
		offers[i] = next
		if err := s.afterOffers(ctx, tx, *m, offers, now, eff); err != nil {
			return Offer{}, err
		}
		return next, nil
	})
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
