package trip

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

// change returns the change that moves t to status with event, stamped at now: the
// version, update time and timeline move on.
func advance(t Trip, status Status, event string, label string, now time.Time) Change {
	prev := t.Status
	t.Status = status
	t.Timeline = append(slices.Clone(t.Timeline), TimelineEntry{Time: now, Label: label})
	t.UpdateTime = now
	t.Version++
	return Change{Trip: t, Event: &Event{Type: event, PreviousStatus: prev}}
}

// key returns the idempotency key of method called by c with requestID and parts.
func key(method string, c caller.Caller, requestID string, parts ...string) idempotency.Key {
	return idempotency.Key{Method: method, Subject: c.Subject, RequestID: requestID, Hash: idempotency.Fingerprint(parts...)}
}

// update runs change on trip id and tells the hub and the task runner about it.
func (s *Service) update(ctx context.Context, op, id string, k idempotency.Key, withRoute bool, change ChangeFunc) (Trip, error) {
	tasks := false
	t, err := s.store.Update(ctx, id, k, withRoute, func(t Trip) (Change, error) {
		ch, err := change(t)
		tasks = len(ch.Tasks) > 0
		return ch, err
	})
	if err != nil {
		return Trip{}, fmt.Errorf("%s: %w", op, err)
	}
	if !s.deferWake { // else the caller's commit tells the watchers
		s.opts.Hub.Notify(id)
	}
	// The runner is woken now even in a caller's transaction: a consumer's change that
	// owes matching a call may emit no event, and then no commit hook runs. It retries
	// the task at its next poll if it woke before the commit.
	if tasks && s.opts.TaskWake != nil {
		s.opts.TaskWake()
	}
	return t, nil
}

// AssignInput is an AssignDriver call.
type AssignInput struct {
	TripID, DriverID, MatchID, RequestID string
}

// Assign records the driver matching assigned to a REQUESTED trip, after checking with
// matching that the match is ASSIGNED to that driver for that trip. Services and
// operators only.
func (s *Service) Assign(ctx context.Context, c caller.Caller, in AssignInput) (Trip, error) {
	var v errs.Violations
	checkTripID(&v, in.TripID)
	v.Check(in.DriverID != "", "driver_id", "is required")
	ids.CheckTo(&v, "match_id", in.MatchID)
	checkRequestID(&v, in.RequestID)
	if err := v.Err(); err != nil {
		return Trip{}, err
	}
	if !c.Privileged() {
		return Trip{}, errs.Denied("", "only services and operators may assign drivers")
	}
	m, err := s.opts.Matching.Match(ctx, in.MatchID)
	if err != nil {
		return Trip{}, fmt.Errorf("assign driver: get match: %w", err)
	}
	if m.TripID != in.TripID || m.Status != MatchAssigned || m.DriverID != in.DriverID {
		return Trip{}, errs.Precondition(ReasonMatchMismatch, "match %s is not ASSIGNED to driver %s for trip %s", in.MatchID, in.DriverID, in.TripID)
	}
	now := s.clock()
	k := key("AssignDriver", c, in.RequestID, in.TripID, in.DriverID, in.MatchID)
	return s.update(ctx, "assign driver", in.TripID, k, false, func(t Trip) (Change, error) {
		if t.Status != StatusRequested {
			return Change{}, wrongStatus(t.Status, "trip %s is %s, not REQUESTED", t.ID, t.Status)
		}
		ch := advance(t, StatusDriverAssigned, EventDriverAssigned, "driver_assigned", now)
		ch.Trip.DriverID, ch.Trip.MatchID, ch.Trip.AssignTime = in.DriverID, in.MatchID, now
		return ch, nil
	})
}

// ApplyDriverAssigned applies matching's matching.driver.assigned event: a REQUESTED trip
// gets its driver; a trip cancelled meanwhile owes matching the match's cancellation
// (which releases the driver); anything else stays as it is. A trip unknown here (a
// request that was undone) is ignored.
func (s *Service) ApplyDriverAssigned(ctx context.Context, tripID string, m Match) error {
	now := s.clock()
	at := m.AssignTime.UTC().Truncate(time.Microsecond)
	if at.IsZero() {
		at = now
	}
	_, err := s.update(ctx, "apply driver assigned", tripID, idempotency.Key{}, false, func(t Trip) (Change, error) {
		switch {
		case t.Status == StatusRequested:
			ch := advance(t, StatusDriverAssigned, EventDriverAssigned, "driver_assigned", now)
			ch.Trip.DriverID, ch.Trip.MatchID, ch.Trip.AssignTime = m.DriverID, m.ID, at
			return ch, nil
		case t.DriverID == m.DriverID && t.MatchID == m.ID:
			return Change{Unchanged: true, Trip: t}, nil // applied already
		}
		// The trip no longer wants this driver: cancelling the match releases them.
		return Change{Unchanged: true, Trip: t, Tasks: []Task{{TripID: t.ID, Kind: TaskCancelMatch, MatchID: m.ID,
			DriverID: m.DriverID, Reason: "trip_" + string(t.Status)}}}, nil
	})
	if errs.KindOf(err) == errs.NotFound {
		return nil
	}
	return err
}

// ApplyMatchFailed applies matching's matching.match.failed event: a REQUESTED trip
// whose match failed is cancelled by the system ("no_driver_found"); anything else stays
// as it is.
func (s *Service) ApplyMatchFailed(ctx context.Context, tripID, matchID string) error {
	now := s.clock()
	_, err := s.update(ctx, "apply match failed", tripID, idempotency.Key{}, false, func(t Trip) (Change, error) {
		// A trip waiting for a rematch has no match id yet; the failed match can only be
		// its new one (the old one was ASSIGNED, then cancelled).
		if t.Status != StatusRequested || (t.MatchID != matchID && t.MatchID != "") {
			return Change{Unchanged: true, Trip: t}, nil
		}
		ch := advance(t, StatusCancelled, EventCancelled, "cancelled", now)
		ch.Trip.Cancellation = &Cancellation{Actor: ActorSystem, ActorID: "matching", Reason: "no_driver_found", Time: now}
		return ch, nil
	})
	if errs.KindOf(err) == errs.NotFound {
		return nil
	}
	return err
}

// RecordFinalFare applies fare's fare.fare.calculated event: an ENDED trip records its
// final fare (once). Fares of unknown or cancelled trips (cancellation fees) are not
// recorded here.
func (s *Service) RecordFinalFare(ctx context.Context, tripID string, total money.Money) error {
	now := s.clock()
	_, err := s.update(ctx, "record final fare", tripID, idempotency.Key{}, false, func(t Trip) (Change, error) {
		if t.Status != StatusEnded || t.FinalFare != nil {
			return Change{Unchanged: true, Trip: t}, nil
		}
		ch := advance(t, t.Status, EventUpdated, "final_fare_set", now)
		ch.Trip.FinalFare = &total
		return ch, nil
	})
	if errs.KindOf(err) == errs.NotFound {
		return nil
	}
	return err
}

// Start starts the ride of a DRIVER_ASSIGNED trip: the assigned driver or an operator.
// location, when set, is the route's first point, at the server's time.
func (s *Service) Start(ctx context.Context, c caller.Caller, tripID string, location *Point, requestID string) (Trip, error) {
	var v errs.Violations
	checkTripID(&v, tripID)
	if location != nil {
		checkPoint(&v, "location", location)
	}
	checkRequestID(&v, requestID)
	if err := v.Err(); err != nil {
		return Trip{}, err
	}
	now := s.clock()
	loc := "none"
	if location != nil {
		loc = fmt.Sprintf("%.9f,%.9f", location.Lat, location.Lng)
	}
	k := key("StartTrip", c, requestID, tripID, loc)
	return s.update(ctx, "start trip", tripID, k, false, func(t Trip) (Change, error) {
		if !mayView(c, t) {
			return Change{}, notFound(t.ID)
		}
		if !c.IsDriver(t.DriverID) && c.Role != caller.Operator {
			return Change{}, errs.Denied("", "only the assigned driver or an operator may start a trip")
		}
		if t.Status != StatusDriverAssigned {
			return Change{}, wrongStatus(t.Status, "trip %s is %s, not DRIVER_ASSIGNED", t.ID, t.Status)
		}
		ch := advance(t, StatusStarted, EventStarted, "started", now)
		ch.Trip.StartTime = now
		if location != nil {
			rp := RoutePoint{Point: *location, Time: now}
			ch.AddRoute = []RoutePoint{rp}
			ch.Trip.LastRoutePoint = &rp
		}
		return ch, nil
	})
}

// RecordLocations appends points to the route of a STARTED trip: the assigned driver or
// a service. Points before the start, more than FutureSlack ahead of the server's clock
// or at a time already recorded are ignored.
func (s *Service) RecordLocations(ctx context.Context, c caller.Caller, tripID string, points []PointInput) (accepted, ignored int, t Trip, err error) {
	if err := validatePoints(tripID, points); err != nil {
		return 0, 0, Trip{}, err
	}
	now := s.clock()
	accepted, t, err = s.store.AddRoutePoints(ctx, tripID, func(t Trip) ([]RoutePoint, error) {
		if !mayView(c, t) {
			return nil, notFound(t.ID)
		}
		if !c.IsDriver(t.DriverID) && c.Role != caller.Service {
			return nil, errs.Denied("", "only the assigned driver (or a service relaying for them) may record the route")
		}
		if t.Status != StatusStarted {
			return nil, wrongStatus(t.Status, "trip %s is %s, not STARTED", t.ID, t.Status)
		}
		seen := map[time.Time]bool{}
		var keep []RoutePoint
		for _, p := range points {
			at := p.Time.UTC().Truncate(time.Microsecond)
			if at.Before(t.StartTime) || at.After(now.Add(FutureSlack)) || seen[at] {
				continue
			}
			seen[at] = true
			keep = append(keep, RoutePoint{Point: *p.Point, Time: at})
		}
		return keep, nil
	}, now)
	if err != nil {
		return 0, 0, Trip{}, fmt.Errorf("record trip location: %w", err)
	}
	if accepted > 0 {
		s.opts.Hub.Notify(tripID)
	}
	return accepted, len(points) - accepted, t, nil
}

// End ends the ride of a STARTED trip: the assigned driver or an operator. Distance
// and duration are the reported ones, or computed from the route and the times; the
// driver is then released in matching (a task, retried until matching answers).
func (s *Service) End(ctx context.Context, c caller.Caller, in EndInput) (Trip, error) {
	if err := in.validate(); err != nil {
		return Trip{}, err
	}
	now := s.clock()
	opt := func(p *int64) string {
		if p == nil {
			return "none"
		}
		return fmt.Sprint(*p)
	}
	k := key("EndTrip", c, in.RequestID, in.TripID, fmt.Sprintf("%.9f,%.9f", in.Dropoff.Lat, in.Dropoff.Lng), opt(in.DistanceMeters), opt(in.DurationSeconds))
	return s.update(ctx, "end trip", in.TripID, k, true, func(t Trip) (Change, error) {
		if !mayView(c, t) {
			return Change{}, notFound(t.ID)
		}
		if !c.IsDriver(t.DriverID) && c.Role != caller.Operator {
			return Change{}, errs.Denied("", "only the assigned driver or an operator may end a trip")
		}
		if t.Status != StatusStarted {
			return Change{}, wrongStatus(t.Status, "trip %s is %s, not STARTED", t.ID, t.Status)
		}
		ch := advance(t, StatusEnded, EventEnded, "ended", now)
		ch.Trip.EndTime = now
		d := *in.Dropoff
		ch.Trip.ActualDropoff = &d
		if in.DistanceMeters != nil {
			ch.Trip.DistanceMeters = *in.DistanceMeters
		} else {
			ch.Trip.DistanceMeters = RouteDistance(t.Route)
		}
		if in.DurationSeconds != nil {
			ch.Trip.DurationSeconds = *in.DurationSeconds
		} else {
			ch.Trip.DurationSeconds = int64(now.Sub(t.StartTime).Round(time.Second) / time.Second)
		}
		ch.Tasks = []Task{{TripID: t.ID, Kind: TaskReleaseDriver, MatchID: t.MatchID, DriverID: t.DriverID, Reason: "trip_ended"}}
		return ch, nil
	})
}

// actorOf returns who c is as a canceller.
func actorOf(c caller.Caller) Actor {
	switch c.Role {
	case caller.Customer:
		return ActorRider
	case caller.Driver:
		return ActorDriver
	case caller.Operator:
		return ActorOperator
	}
	return ActorSystem
}

// Cancel cancels a trip. The rider, the assigned driver, operators and services may
// cancel a REQUESTED or DRIVER_ASSIGNED trip; only operators a STARTED one. Cancelling a
// CANCELLED trip returns it unchanged. The assigned driver cancelling a DRIVER_ASSIGNED
// trip does not end it: the search starts again (see rematch), with no fee for the rider. The cancellation fee policy: a rider who cancels
// a DRIVER_ASSIGNED trip FreeCancelWindow or more after the assignment owes the fee, and
// the trip's sub-status says so (SubStatusCancellationFeeDue); fare prices it. The match
// is then cancelled in matching (a task), which also releases an assigned driver.
func (s *Service) Cancel(ctx context.Context, c caller.Caller, tripID, reason, requestID string) (Trip, error) {
	var v errs.Violations
	checkTripID(&v, tripID)
	v.Check(reason != "", "reason", "is required")
	v.Check(len([]rune(reason)) <= MaxReason, "reason", "must be at most %d characters", MaxReason)
	checkRequestID(&v, requestID)
	if err := v.Err(); err != nil {
		return Trip{}, err
	}
	now := s.clock()
	k := key("CancelTrip", c, requestID, tripID, reason)
	return s.update(ctx, "cancel trip", tripID, k, false, func(t Trip) (Change, error) {
		if !mayView(c, t) {
			return Change{}, notFound(t.ID)
		}
		switch t.Status {
		case StatusCancelled:
			return Change{Unchanged: true, Trip: t}, nil
		case StatusEnded:
			return Change{}, wrongStatus(t.Status, "trip %s has ended: it can no longer be cancelled", t.ID)
		case StatusStarted:
			if c.Role != caller.Operator {
				return Change{}, errs.Denied("", "a started ride is ended with EndTrip; only an operator may cancel it")
			}
		}
		actor := actorOf(c)
		if actor == ActorDriver && t.Status == StatusDriverAssigned {
			return rematch(t, now), nil
		}
		prev := t.Status
		ch := advance(t, StatusCancelled, EventCancelled, "cancelled", now)
		ch.Trip.Cancellation = &Cancellation{Actor: actor, ActorID: c.Subject, Reason: reason, Time: now}
		if actor == ActorRider && prev == StatusDriverAssigned && now.Sub(t.AssignTime) >= s.opts.FreeCancelWindow {
			ch.Trip.SubStatus = SubStatusCancellationFeeDue
			ch.Trip.Timeline = append(ch.Trip.Timeline, TimelineEntry{Time: now, Label: "sub_status:" + SubStatusCancellationFeeDue})
		}
		if t.MatchID != "" {
			ch.Tasks = []Task{{TripID: t.ID, Kind: TaskCancelMatch, MatchID: t.MatchID, DriverID: t.DriverID, Reason: "trip_cancelled"}}
		}
		return ch, nil
	})
}

// rematch returns the change of a DRIVER_ASSIGNED trip whose driver cancelled: back to
// REQUESTED, without driver or match, waiting for a new match (a new match request id),
// announced as trip.trip.requested with the previous status DRIVER_ASSIGNED; the rematch
// task then cancels the old match (releasing the driver) and starts the new one.
func rematch(t Trip, now time.Time) Change {
	old, driver := t.MatchID, t.DriverID
	ch := advance(t, StatusRequested, EventRequested, "driver_cancelled", now)
	ch.Trip.DriverID, ch.Trip.MatchID, ch.Trip.AssignTime = "", "", time.Time{}
	ch.Trip.MatchRequestID = ids.New()
	ch.Tasks = []Task{{TripID: t.ID, Kind: TaskRematch, MatchID: old, DriverID: driver, Reason: "driver_cancelled",
		RequestID: ch.Trip.MatchRequestID}}
	return ch
}

// SetSubStatus sets or clears a trip's free-form sub-status, in any status: the
// assigned driver, operators and services.
func (s *Service) SetSubStatus(ctx context.Context, c caller.Caller, tripID, subStatus, requestID string) (Trip, error) {
	var v errs.Violations
	checkTripID(&v, tripID)
	v.Check(subStatusPattern.MatchString(subStatus), "sub_status", "must be 0 to 64 lower-case letters, digits or underscores")
	checkRequestID(&v, requestID)
	if err := v.Err(); err != nil {
		return Trip{}, err
	}
	now := s.clock()
	k := key("SetTripSubStatus", c, requestID, tripID, subStatus)
	return s.update(ctx, "set trip sub-status", tripID, k, false, func(t Trip) (Change, error) {
		if !mayView(c, t) {
			return Change{}, notFound(t.ID)
		}
		if c.Role == caller.Customer {
			return Change{}, errs.Denied("", "riders may not set a trip's sub-status")
		}
		ch := advance(t, t.Status, EventUpdated, "sub_status:"+subStatus, now)
		ch.Trip.SubStatus = subStatus
		return ch, nil
	})
}
