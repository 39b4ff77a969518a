package trip

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// TaskKind is a call to matching that a change of a trip owes after it commits.
type TaskKind string

// The task kinds.
const (
	// TaskReleaseDriver frees the trip's driver (ReleaseDriver) after the ride ended.
	TaskReleaseDriver TaskKind = "release_driver"
	// TaskCancelMatch cancels the trip's match (CancelMatch) after the trip was
	// cancelled; it withdraws offers or releases an assigned driver.
	TaskCancelMatch TaskKind = "cancel_match"
	// TaskRematch restarts the search after the assigned driver cancelled: it cancels
	// the old match (MatchID; this releases the driver), then, while the trip still
	// waits for it, starts a new match with request id RequestID and records it.
	TaskRematch TaskKind = "rematch"
)

// Task is a call to matching owed by a committed change, made (and retried) by the
// task runner until matching answered it.
type Task struct {
	ID       int64
	TripID   string
	Kind     TaskKind
	MatchID  string
	DriverID string
	Reason   string
	// RequestID is the request id of the match a rematch task starts.
	RequestID string
	Attempts  int
}

// Change is what a ChangeFunc decides: the trip after the change, the event it emits
// (nil for none), the route points it adds and the matching calls it owes.
type Change struct {
	// Unchanged says the trip stays as it is: only Tasks are written.
	Unchanged bool
	Trip      Trip
	Event     *Event
	AddRoute  []RoutePoint
	Tasks     []Task
}

// ChangeFunc computes a change of a trip from its current state; an error aborts the
// change and is returned as is.
type ChangeFunc func(t Trip) (Change, error)

// Store is the storage the trip service needs. Implementations return kit/errs errors
// (NotFound, FailedPrecondition with reason ACTIVE_TRIP_EXISTS for a second active trip
// of a rider, Aborted for a lost race…), or whatever a ChangeFunc returned. Every write
// that emits an event does so in its transaction (the outbox).
type Store interface {
	// LookupRequest returns the id of the trip a completed ride request with key k
	// created; found is false while no call with k completed. A key used with other
	// parameters is INVALID_ARGUMENT (REQUEST_ID_REUSED).
	LookupRequest(ctx context.Context, k idempotency.Key) (tripID string, found bool, err error)
	// BeginRequest claims k with a lease (idempotencypg's Acquire, t.ID as its memo) and
	// stores t unpublished, in one transaction. When the lease is a take-over of an
	// earlier attempt, t gets that attempt's id, and a trip stored under it is returned
	// unchanged; when it is Replayed, nothing is stored. A key with an empty RequestID
	// claims nothing. Refused (a second active trip of the rider, reason
	// ACTIVE_TRIP_EXISTS), it stores neither.
	BeginRequest(ctx context.Context, k idempotency.Key, t Trip) (Trip, idempotency.Lease, error)
	// AbandonRequest gives the key of l up (a fresh key is deleted, a taken-over one
	// keeps its memo); errors are only logged by callers.
	AbandonRequest(ctx context.Context, l idempotency.Lease) error
	// Publish publishes the unpublished trip id with matchID at time at, emits ev and
	// completes l with the trip id, in one transaction, and returns the trip. A trip
	// already published is returned as it is; one being abandoned fails with
	// Unavailable, reason REQUEST_BEING_CLEANED_UP.
	Publish(ctx context.Context, id, matchID string, at time.Time, l idempotency.Lease) (Trip, error)
	// DeletePending deletes the trip id if it is unpublished.
	DeletePending(ctx context.Context, id string) error
	// StalePending returns up to limit unpublished trips created before before.
	StalePending(ctx context.Context, before time.Time, limit int) ([]Trip, error)
	// MarkAbandoning marks the unpublished trip id as being abandoned, so that no retry
	// publishes it any more; ok is false when it is published or gone.
	MarkAbandoning(ctx context.Context, id string) (t Trip, ok bool, err error)

	// Trip returns the published trip id, with its route only for ViewFull.
	Trip(ctx context.Context, id string, view View) (Trip, error)
	// TripsByID returns the published trips among ids, in any order, without routes,
	// in one query.
	TripsByID(ctx context.Context, ids []string) ([]Trip, error)
	// ListTrips returns up to limit published trips matching f after cursor (nil for the
	// first page), newest first, without routes.
	ListTrips(ctx context.Context, f Filter, after *Cursor, limit int) ([]Trip, error)
	// Update locks the published trip id and, unless key was completed before (it then
	// returns the trip as it is now), calls change with the trip (with its route when
	// withRoute) and writes what it returns, its event, route points and tasks, and
	// completes key, in one transaction.
	Update(ctx context.Context, id string, key idempotency.Key, withRoute bool, change ChangeFunc) (Trip, error)
	// AddRoutePoints locks the published trip id, calls pick with it (its error is
	// returned as is) and adds the points pick returns whose time no recorded point has;
	// it returns how many were added and the trip after the call. Adding points bumps the
	// version and update time (to now) and emits nothing.
	AddRoutePoints(ctx context.Context, id string, pick func(Trip) ([]RoutePoint, error), now time.Time) (int, Trip, error)

	// SetMatch records matchID as the match of trip id while the trip is REQUESTED, has no
	// match and waits for the match of matchRequestID (a rematch); ok is false otherwise.
	SetMatch(ctx context.Context, id, matchRequestID, matchID string, now time.Time) (ok bool, err error)

	// ClaimTasks returns up to limit tasks due at now, each claimed for lease (not
	// returned again before now+lease unless finished or rescheduled).
	ClaimTasks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Task, error)
	// FinishTask deletes a task that is done.
	FinishTask(ctx context.Context, id int64) error
	// RetryTask reschedules a task for at, recording the error.
	RetryTask(ctx context.Context, id int64, at time.Time, lastError string) error
}
