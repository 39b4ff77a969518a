package matching

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// Store is the storage the matching service needs. Implementations return kit/errs
// errors (NotFound, AlreadyExists — ErrPlateTaken for a plate taken in the city —,
// Aborted for a lost race, …), or whatever a DriverFunc returned.
//
// The writes are retriable mutations: each claims its idempotency key (kit/idempotency;
// a key with an empty RequestID claims nothing) in the transaction of the change, after
// serializing on what it changes (the driver's row; for a create, the city's plate), so
// a retry that arrives while the first call runs waits for it, then answers with the
// first call's result (the driver as that call returned it) without changing anything.
// The key's Hash holds the call's parameters: the same request id with others fails with
// INVALID_ARGUMENT.
type Store interface {
	MatchStore
	// CreateDriver inserts d, whose ID, times and version the caller set.
	CreateDriver(ctx context.Context, d Driver, key idempotency.Key) (Driver, error)
	// Driver returns one driver, with their last stored location; NotFound when unknown.
	Driver(ctx context.Context, id string) (Driver, error)
	// ListDrivers returns up to limit drivers selected by f after the cursor (nil for
	// the first page), by creation time, then id.
	ListDrivers(ctx context.Context, f DriverFilter, after *DriverCursor, limit int) ([]Driver, error)
	// UpdateDriver locks driver id and, unless key was completed before (it then returns
	// that call's result), calls next with the driver and writes what next returns (when
	// Change.Write) with its events, in one transaction. next's error is returned as is.
	UpdateDriver(ctx context.Context, id string, key idempotency.Key, next DriverFunc) (Driver, error)
	// TrackedDrivers returns every driver who is not OFFLINE, with their last stored fix,
	// for the Index to start from.
	TrackedDrivers(ctx context.Context) ([]Tracked, error)
	// ChangedDrivers returns the drivers changed (update time) at or after since,
	// OFFLINE ones included, with their last stored fix: how a replica learns of the
	// other replicas' changes.
	ChangedDrivers(ctx context.Context, since time.Time) ([]Tracked, error)
	// SaveLocations stores each driver's fix unless a newer one is stored, in one
	// round trip; drivers that no longer exist are skipped.
	SaveLocations(ctx context.Context, ps []Position) error
}

// DriverFunc computes a driver's change from the driver as stored (locked).
type DriverFunc func(current Driver) (Change, error)

// Change is what a DriverFunc decided.
type Change struct {
	// Driver is the driver after the change (the current one when nothing changes).
	Driver Driver
	// Write is false when nothing changes: nothing is written and no event emitted.
	Write bool
	// Events are emitted with the change.
	Events []Event
}
