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
	lease, err := s.store.AcquireRequest(ctx, key, ids.New())
	if err != nil {
		return Trip{}, fmt.Errorf("request trip: %w", err)
	}
	if lease.Replayed {
		t, err := s.store.Trip(ctx, string(lease.Result), ViewBasic)
		if err != nil {
			return Trip{}, fmt.Errorf("request trip: replay: %w", err)
		}
		return shape(t, ViewBasic), nil
	}
	t, keep, err := s.request(ctx, in, lease)
	if err != nil && !keep {
		if aerr := s.store.AbandonRequest(context.WithoutCancel(ctx), lease); aerr != nil {
			s.opts.Logger.Warn("abandon request key", "error", aerr, "key", lease)
		}
	}
	if err != nil {
		return Trip{}, fmt.Errorf("request trip: %w", err)
	}
	s.opts.Hub.Notify(t.ID)
	return shape(t, ViewBasic), nil
}

// request runs a ride request holding lease. keep reports, with an error, that the key
// must stay leased: matching may have started the search, and a retry with the same
// request id resumes the same trip.
func (s *Service) request(ctx context.Context, in RequestInput, lease idempotency.Lease) (t Trip, keep bool, err error) {
	id := ids.New()
	if len(lease.Memo) > 0 { // the id the first attempt chose (or this one's)
		id = string(lease.Memo)
	}
	if s.opts.Suspensions != nil {
		if err := s.opts.Suspensions.CheckCustomer(ctx, in.CustomerID); err != nil {
			return Trip{}, false, fmt.Errorf("account suspension: %w", err)
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
		return Trip{}, false, fmt.Errorf("rider standing: %w", standErr)
	}
	if standing == StandingBlocked {
		return Trip{}, false, errs.Precondition(ReasonNotInGoodStanding,
			"rider %s has unpaid fares (standing BLOCKED): pay the open bill before requesting a ride", in.CustomerID)
	}
	if quoteErr != nil {
		return Trip{}, false, fmt.Errorf("quote ride: %w", quoteErr)
	}
	now := s.clock()
	t, err = s.store.InsertPending(ctx, Trip{
		ID: id, CustomerID: in.CustomerID, Pickup: *in.Pickup, Dropoff: *in.Dropoff, Product: in.Product, City: in.City,
		Status: StatusRequested, MatchRequestID: ids.New(), Estimate: q.Price, QuoteID: q.ID, SurgeBps: q.MultiplierBps,
		Timeline: []TimelineEntry{{Time: now, Label: "requested"}}, CreateTime: now, UpdateTime: now, Version: 1,
	})
	if err != nil {
		return Trip{}, false, fmt.Errorf("store trip: %w", err)
	}
	if t.Published { // a resumed attempt whose key expired meanwhile
		return t, false, nil
	}
	m, err := s.opts.Matching.CreateMatch(ctx, MatchRequest{TripID: t.ID, Pickup: t.Pickup, Product: t.Product,
		RequestID: t.MatchRequestID, Options: s.opts.Match})
	if err != nil {
		if indefinite(err) {
			return Trip{}, true, fmt.Errorf("create match: %w", err)
		}
		// Matching refused: no search started, so the trip goes.
		if derr := s.store.DeletePending(context.WithoutCancel(ctx), t.ID); derr != nil {
			return Trip{}, true, errors.Join(fmt.Errorf("create match: %w", err), derr)
		}
		return Trip{}, false, fmt.Errorf("create match: %w", err)
	}
	t, err = s.store.Publish(ctx, t.ID, m.ID, s.clock(), lease)
	if err != nil {
		return Trip{}, true, fmt.Errorf("publish trip: %w", err)
	}
	return t, false, nil
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
