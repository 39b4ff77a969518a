package trip

import (
	"context"
	"fmt"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
)

// Provider names and limits of waybill.reservation.v1.ReservationProviderService.
const (
	// ProviderName is trip's name as a reservation provider.
	ProviderName = "trip"
	// MaxBatch is the most ids one provider call takes.
	MaxBatch = 500
)

// ActionOutcome is the outcome of a confirm or cancel of one ride.
type ActionOutcome int

// The outcomes.
const (
	OutcomeOK ActionOutcome = iota + 1
	OutcomeNotFound
	OutcomeFailedPrecondition
)

// ActionResult is the outcome of a provider action for one id.
type ActionResult struct {
	ID      string
	Outcome ActionOutcome
	Trip    Trip // set unless not found
	Reason  string
}

// checkBatch checks a provider call's provider name and ids.
func checkBatch(provider string, idList []string) error {
	var v errs.Violations
	v.Check(provider == ProviderName, "provider", "must be %q", ProviderName)
	switch {
	case len(idList) == 0:
		v.Add("ids", "at least one id is required")
	case len(idList) > MaxBatch:
		v.Add("ids", "at most %d ids per call", MaxBatch)
	}
	for i, id := range idList {
		ids.CheckTo(&v, fmt.Sprintf("ids[%d]", i), id)
	}
	return v.Err()
}

// Details returns the rides among idList c may see, with one query: a nil entry for an
// id that does not exist or that c may not see, in request order.
func (s *Service) Details(ctx context.Context, c caller.Caller, provider string, idList []string) ([]*Trip, error) {
	if err := checkBatch(provider, idList); err != nil {
		return nil, err
	}
	trips, err := s.store.TripsByID(ctx, idList)
	if err != nil {
		return nil, fmt.Errorf("get reservation details: %w", err)
	}
	byID := make(map[string]*Trip, len(trips))
	for i := range trips {
		if mayView(c, trips[i]) {
			byID[trips[i].ID] = &trips[i]
		}
	}
	out := make([]*Trip, len(idList))
	for i, id := range idList {
		out[i] = byID[id]
	}
	return out, nil
}

// ConfirmRides answers billing's pay saga: a ride needs no confirmation (it is billed
// for what happened), so every ride not cancelled is OK as it is; a cancelled ride is OK
// only when it owes a cancellation fee, and FAILED_PRECONDITION (TRIP_CANCELLED)
// otherwise. Services and operators only; nothing changes, so the request id is only
// checked.
func (s *Service) ConfirmRides(ctx context.Context, c caller.Caller, provider string, idList []string, requestID string) ([]ActionResult, error) {
	if err := checkBatch(provider, idList); err != nil {
		return nil, err
	}
	if err := checkRequired(requestID); err != nil {
		return nil, err
	}
	if !c.Privileged() {
		return nil, errs.Denied("", "only services and operators may confirm rides")
	}
	found, err := s.Details(ctx, c, provider, idList)
	if err != nil {
		return nil, err
	}
	out := make([]ActionResult, len(idList))
	for i, t := range found {
		switch {
		case t == nil:
			out[i] = ActionResult{ID: idList[i], Outcome: OutcomeNotFound}
		case t.Status == StatusCancelled && t.SubStatus != SubStatusCancellationFeeDue:
			out[i] = ActionResult{ID: t.ID, Outcome: OutcomeFailedPrecondition, Trip: *t, Reason: "TRIP_CANCELLED"}
		default:
			out[i] = ActionResult{ID: t.ID, Outcome: OutcomeOK, Trip: *t}
		}
	}
	return out, nil
}

// CancelRides cancels rides for billing (a bill's cancellation, the pay saga's
// compensation): an unfinished ride is cancelled by the system (reason given, fees
// waived: no cancellation fee sub-status), a cancelled one is OK as it is, an ended one
// cannot be undone (FAILED_PRECONDITION, TRIP_ENDED). Each id's cancellation is
// idempotent by requestID. Services and operators only.
func (s *Service) CancelRides(ctx context.Context, c caller.Caller, provider string, idList []string, requestID, reason string) ([]ActionResult, error) {
	if err := checkBatch(provider, idList); err != nil {
		return nil, err
	}
	if err := checkRequired(requestID); err != nil {
		return nil, err
	}
	if !c.Privileged() {
		return nil, errs.Denied("", "only services and operators may cancel rides through the provider contract")
	}
	if reason == "" {
		reason = "billing_cancelled"
	}
	if len([]rune(reason)) > MaxReason {
		reason = string([]rune(reason)[:MaxReason])
	}
	out := make([]ActionResult, len(idList))
	for i, id := range idList {
		now := s.clock()
		k := key("CancelReservations", c, requestID+"/"+id, id, reason)
		t, err := s.update(ctx, "cancel ride", id, k, false, func(t Trip) (Change, error) {
			switch t.Status {
			case StatusCancelled:
				return Change{Unchanged: true, Trip: t}, nil
			case StatusEnded:
				return Change{}, errs.Precondition("TRIP_ENDED", "trip %s has ended", t.ID)
			}
			ch := advance(t, StatusCancelled, EventCancelled, "cancelled", now)
			ch.Trip.Cancellation = &Cancellation{Actor: ActorSystem, ActorID: c.Subject, Reason: reason, Time: now}
			if t.MatchID != "" {
				ch.Tasks = []Task{{TripID: t.ID, Kind: TaskCancelMatch, MatchID: t.MatchID, DriverID: t.DriverID, Reason: "trip_cancelled"}}
			}
			return ch, nil
		})
		switch errs.KindOf(err) {
		case errs.Unknown:
			if err != nil {
				return nil, err
			}
			out[i] = ActionResult{ID: id, Outcome: OutcomeOK, Trip: t}
		case errs.NotFound:
			out[i] = ActionResult{ID: id, Outcome: OutcomeNotFound}
		case errs.FailedPrecondition:
			e, _ := errs.As(err)
			cur, _ := s.store.Trip(ctx, id, ViewBasic)
			out[i] = ActionResult{ID: id, Outcome: OutcomeFailedPrecondition, Trip: cur, Reason: e.ReasonOrKind()}
		default:
			return nil, err
		}
	}
	return out, nil
}

// checkRequired checks a required request id.
func checkRequired(requestID string) error {
	var v errs.Violations
	v.Check(requestID != "", "request_id", "is required")
	checkRequestID(&v, requestID)
	return v.Err()
}
