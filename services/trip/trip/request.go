package trip

import (
	"context"
	"errors"
	"fmt"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
)

// indefinite reports whether err leaves the outcome of a call to another service
// unknown: it may have taken effect.
func indefinite(err error) bool {
	return errs.KindOf(err) == errs.Unavailable || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Request requests a ride for in.CustomerID (see the package documentation for the two
// steps). Riders request only for themselves; operators and services for anyone.
// It is idempotent by in.RequestID: a retry returns the first call's trip, and a retry
// of a call whose outcome was unknown resumes it with the same trip.
func (s *Service) Request(ctx context.Context, c caller.Caller, in RequestInput) (Trip, error) {
	if err := in.validate(); err != nil {
		return Trip{}, err
	}
	switch {
	case c.Privileged():
	case c.Role == caller.Customer:
		if c.Subject != in.CustomerID {
			return Trip{}, errs.Denied("", "a rider may only request rides for themselves")
		}
	default:
		return Trip{}, errs.Denied("", "only riders, operators and services may request rides")
	}
	key := idempotency.Key{Method: "RequestTrip", Subject: c.Subject, RequestID: in.RequestID, Hash: in.fingerprint()}
	if id, found, err := s.store.LookupRequest(ctx, key); err != nil {
		return Trip{}, fmt.Errorf("request trip: %w", err)
	} else if found { // a retry of a request that succeeded: its trip, whatever changed since
		return s.replay(ctx, id)
	}
	t, err := s.request(ctx, in, key)
	if err != nil {
		return Trip{}, fmt.Errorf("request trip: %w", err)
	}
	s.opts.Hub.Notify(t.ID)
	return shape(t, ViewBasic), nil
}

// replay answers a retry of a request that created trip id.
func (s *Service) replay(ctx context.Context, id string) (Trip, error) {
	t, err := s.store.Trip(ctx, id, ViewBasic)
	if err != nil {
		return Trip{}, fmt.Errorf("request trip: replay: %w", err)
	}
	return shape(t, ViewBasic), nil
}

// request runs a ride request: the gates and the quote (reads, nothing written), then
// the trip stored unpublished together with the request's leased key, the match, and the
// trip published with the key completed. After a failure the key is given up, unless
// matching may have started the search: then it stays leased, and a retry with the same
// request id after the lease resumes the same trip.
func (s *Service) request(ctx context.Context, in RequestInput, key idempotency.Key) (Trip, error) {
	if s.opts.Suspensions != nil {
		if err := s.opts.Suspensions.CheckCustomer(ctx, in.CustomerID); err != nil {
			return Trip{}, fmt.Errorf("account suspension: %w", err)
		}
	}
	// The standing and the quote are independent reads: ask billing and fare at once.
	// (An unused quote of a refused request is harmless.)
	var (
		standing   Standing
		standErr   error
		standReady = make(chan struct{})
	)
	go func() {
		defer close(standReady)
		standing, standErr = s.opts.Billing.Standing(ctx, in.CustomerID)
	}()
	meters, seconds := estimateRide(*in.Pickup, *in.Dropoff)
	q, quoteErr := s.opts.Fare.QuoteRide(ctx, QuoteInput{City: in.City, Product: in.Product, Pickup: *in.Pickup, Dropoff: *in.Dropoff,
		DistanceMeters: meters, DurationSeconds: seconds})
	<-standReady
	if standErr != nil {
		return Trip{}, fmt.Errorf("rider standing: %w", standErr)
	}
	if standing == StandingBlocked {
		return Trip{}, errs.Precondition(ReasonNotInGoodStanding,
			"rider %s has unpaid fares (standing BLOCKED): pay the open bill before requesting a ride", in.CustomerID)
	}
	if quoteErr != nil {
		return Trip{}, fmt.Errorf("quote ride: %w", quoteErr)
	}
	now := s.clock()
	t, lease, err := s.store.BeginRequest(ctx, key, Trip{
		ID: ids.New(), CustomerID: in.CustomerID, Pickup: *in.Pickup, Dropoff: *in.Dropoff, Product: in.Product, City: in.City,
		Status: StatusRequested, MatchRequestID: ids.New(), Estimate: q.Price, QuoteID: q.ID, SurgeBps: q.MultiplierBps,
		Timeline: []TimelineEntry{{Time: now, Label: "requested"}}, CreateTime: now, UpdateTime: now, Version: 1,
	})
	if err != nil {
		return Trip{}, fmt.Errorf("store trip: %w", err) // nothing stored
	}
	if lease.Replayed { // a racing retry completed first
		return s.replay(ctx, string(lease.Result))
	}
	if t.Published { // a resumed attempt whose key expired meanwhile
		return t, nil
	}
	abandon := func() {
		if err := s.store.AbandonRequest(context.WithoutCancel(ctx), lease); err != nil {
			s.opts.Logger.Warn("abandon request key", "error", err, "key", lease)
		}
	}
	m, err := s.opts.Matching.CreateMatch(ctx, MatchRequest{TripID: t.ID, Pickup: t.Pickup, Product: t.Product,
		RequestID: t.MatchRequestID, Options: s.opts.Match})
	if err != nil {
		if indefinite(err) { // the search may have started: keep the key for a retry
			return Trip{}, fmt.Errorf("create match: %w", err)
		}
		// Matching refused: no search started, so the trip and its key go.
		if derr := s.store.DeletePending(context.WithoutCancel(ctx), t.ID); derr != nil {
			return Trip{}, errors.Join(fmt.Errorf("create match: %w", err), derr)
		}
		abandon()
		return Trip{}, fmt.Errorf("create match: %w", err)
	}
	t, err = s.store.Publish(ctx, t.ID, m.ID, s.clock(), lease)
	if err != nil {
		return Trip{}, fmt.Errorf("publish trip: %w", err)
	}
	return t, nil
}

// SweepPending undoes ride requests left unpublished for longer than the pending
// timeout (their call failed with an unknown outcome and was not retried): it marks
// each as abandoned, so that no retry publishes it, cancels the match the request may
// have started, and deletes it. It returns how many it deleted; requests matching
// cannot answer for now stay for the next sweep.
func (s *Service) SweepPending(ctx context.Context) (int, error) {
	stale, err := s.store.StalePending(ctx, s.clock().Add(-s.opts.PendingTimeout), 50)
	if err != nil {
		return 0, fmt.Errorf("sweep pending requests: %w", err)
	}
	n := 0
	for _, p := range stale {
		t, ok, err := s.store.MarkAbandoning(ctx, p.ID)
		if err != nil {
			return n, fmt.Errorf("sweep pending request %s: %w", p.ID, err)
		}
		if !ok {
			continue
		}
		// CreateMatch with the request's own request id finds the match the request
		// started, if any (or starts one, cancelled at once): matching has no other
		// lookup by trip.
		m, err := s.opts.Matching.CreateMatch(ctx, MatchRequest{TripID: t.ID, Pickup: t.Pickup, Product: t.Product,
			RequestID: t.MatchRequestID, Options: s.opts.Match})
		switch {
		case err != nil && indefinite(err):
			continue
		case err == nil:
			err := s.opts.Matching.CancelMatch(ctx, m.ID, "trip_request_abandoned", "abandon-"+t.MatchRequestID)
			if err != nil && indefinite(err) {
				continue
			}
		}
		if err := s.store.DeletePending(ctx, t.ID); err != nil {
			return n, fmt.Errorf("sweep pending request %s: %w", t.ID, err)
		}
		n++
	}
	return n, nil
}
