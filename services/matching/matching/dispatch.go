package matching

import (
	"context"
	"log/slog"
	"time"

	"github.com/waybill/waybill/kit/ids"
)

// The dispatcher drives matches forward in time: it makes each attempt's offers, expires
// offers whose time is up, and fails matches whose attempts are exhausted. Its timer is
// durable: every match that needs a look has a due time in storage (its next attempt,
// or its offers' expiry), and the dispatcher takes due matches one at a time with FOR
// UPDATE SKIP LOCKED, so several workers and several replicas share the work and a
// restarted process resumes where a crashed one stopped. Commits that make a match due
// wake it in this process (Wake); a poll covers the rest (other replicas' matches,
// missed wake-ups).

// DispatchOptions configures Service.RunDispatcher.
type DispatchOptions struct {
	// Workers is how many matches this process steps at once; 0 means 2.
	Workers int
	// Poll is the longest the dispatcher sleeps without looking for due matches; 0
	// means 1 second.
	Poll time.Duration
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
}

// Wake makes the dispatcher look for due matches now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunDispatcher runs the dispatcher's workers until ctx ends.
func (s *Service) RunDispatcher(ctx context.Context, o DispatchOptions) {
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{})
	for range o.Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			s.dispatchLoop(ctx, o)
		}()
	}
	for range o.Workers {
		<-done
	}
}

// dispatchLoop steps due matches until none is due, then sleeps until the next due
// time, a wake-up or the poll interval, whichever comes first.
func (s *Service) dispatchLoop(ctx context.Context, o DispatchOptions) {
	failures := 0
	for ctx.Err() == nil {
		found, err := s.DispatchOne(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			o.Logger.Warn("dispatch a due match", slog.Any("error", err))
		} else {
			failures = 0
		}
		if found && err == nil {
			s.Wake() // another worker may help with the rest
			continue
		}
		wait := o.Poll
		if failures > 0 {
			wait = min(o.Poll, time.Duration(failures)*100*time.Millisecond)
		} else if next, ok, err := s.store.NextDue(ctx); err == nil && ok {
			wait = min(wait, max(next.Sub(s.now()), 0)+time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// DispatchOne steps one due match, if any, and reports whether there was one.
func (s *Service) DispatchOne(ctx context.Context) (bool, error) {
	var eff effects
	now := s.clock()
	found, err := s.store.Dispatch(ctx, now, func(tx MatchTx, m Match) error {
		eff.reset()
		return s.step(ctx, tx, m, now, &eff)
	})
	if err != nil {
		return found, err
	}
	s.apply(&eff)
	return found, nil
}

// step moves due match m forward at now: it expires the offers whose time is up; when
// none is pending any more it starts the next attempt or, after the last, fails the
// match.
func (s *Service) step(ctx context.Context, tx MatchTx, m Match, now time.Time, eff *effects) error {
	if !m.Status.Searching() {
		next := m
		next.DueTime = time.Time{}
		return updateMatch(ctx, tx, next, m.Status)
	}
	offers, err := tx.Offers(ctx, m.ID)
	if err != nil {
		return err
	}
	var due time.Time
	pending := false
	for i, o := range offers {
		if o.Status != OfferPending {
			continue
		}
		if now.Before(o.ExpireTime) {
			if !pending || o.ExpireTime.Before(due) {
				due = o.ExpireTime
			}
			pending = true
			continue
		}
		o.resolve(OfferExpired, now)
		if err := s.endOffer(ctx, tx, o, now, eff); err != nil {
			return err
		}
		offers[i] = o
	}
	switch {
	case pending:
		next := m
		next.DueTime = due
		return updateMatch(ctx, tx, next, m.Status)
	case m.AttemptCount >= m.MaxAttempts:
		return s.fail(ctx, tx, m, offers, now)
	}
	return s.attempt(ctx, tx, m, offers, now, eff)
}

// attempt starts m's next attempt: it offers the ride to up to FanOut eligible drivers
// not offered this match before, nearest first, within the attempt's radius (n × the
// initial radius, capped at MaxRadiusMeters), or to the requested driver of a manual
// dispatch. Each driver is claimed with a conditional update (AVAILABLE → OFFERED), so a
// driver taken meanwhile, by another match or replica, is passed over. With no offer
// made the match stays SEARCHING and the next attempt is due after the offer timeout.
func (s *Service) attempt(ctx context.Context, tx MatchTx, m Match, offers []Offer, now time.Time, eff *effects) error {
	next := m.clone()
	next.AttemptCount++
	tried := make(map[string]bool, len(offers))
	for _, o := range offers {
		tried[o.DriverID] = true
	}
	made := int32(0)
	expire := now.Add(m.OfferTimeout)
	// offer claims the drivers of hits in order until FanOut offers are made.
	offer := func(hits []Hit) error {
		for _, h := range hits {
			if made == m.FanOut {
				return nil
			}
			if tried[h.DriverID] {
				continue
			}
			tried[h.DriverID] = true
			d, ok, err := tx.ClaimDriver(ctx, h.DriverID, &next, now)
			if err != nil {
				return err
			}
			if !ok {
				continue // taken meanwhile, by another match or replica
			}
			o := Offer{
				ID: ids.New(), MatchID: m.ID, TripID: m.TripID, DriverID: d.ID, Pickup: m.Pickup, Product: m.Product,
				Status: OfferPending, Attempt: next.AttemptCount, DistanceMeters: distanceInt(h.DistanceMeters),
				ETASeconds: ETASeconds(h.DistanceMeters), ExpireTime: expire, CreateTime: now, UpdateTime: now, Version: 1,
			}
			if err := tx.InsertOffer(ctx, o); err != nil {
				return err
			}
			eff.moved(d)
			made++
		}
		return nil
	}
	if m.RequestedDriverID != "" {
		if h, ok := s.index.Candidate(m.RequestedDriverID, m.Pickup, m.Product); ok {
			if err := offer([]Hit{h}); err != nil {
				return err
			}
		}
	} else {
		next.SearchRadius = min(next.AttemptCount*m.InitialRadius, MaxRadiusMeters)
		// The index may still hold as AVAILABLE drivers whom another replica took a
		// moment ago (it learns of them within a flush interval): when claims fail,
		// search again for more, up to MaxSearchLimit.
		for limit := int(m.FanOut) + len(tried) + 8; ; limit *= 2 {
			limit = min(limit, MaxSearchLimit)
			hits := s.index.Search(nil, Query{Point: m.Pickup, RadiusMeters: float64(next.SearchRadius), Product: m.Product, Limit: limit})
			if err := offer(hits); err != nil {
				return err
			}
			if made == m.FanOut || len(hits) < limit || limit == MaxSearchLimit {
				break
			}
		}
	}
	next.Status = MatchSearching
	if made > 0 {
		next.Status = MatchOffered
	}
	next.DueTime = expire
	next.touch(now)
	return updateMatch(ctx, tx, next, m.Status)
}
