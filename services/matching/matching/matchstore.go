package matching

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// MatchStore is the storage of matches and offers the matching service needs. Every
// change of a match or of its offers runs in one transaction that holds the match's row
// lock (InMatch, Dispatch), so the domain decides each change from the match and its
// offers as they are, and writes it with conditional updates (a driver moves only from
// the status the change expects): the database refuses what a bug in Go might allow.
// Storage also holds the guards that make a double assignment impossible: at most one
// PENDING offer per driver, at most one ASSIGNED, unreleased match per driver, one offer
// per driver and match, and one active match per trip (ErrTripHasMatch).
type MatchStore interface {
	// Match returns one match, with its offers (oldest first) when withOffers;
	// NotFound when unknown.
	Match(ctx context.Context, id string, withOffers bool) (Match, error)
	// DriverOffers returns the offers of driver id that are PENDING or changed at or
	// after since, by update time.
	DriverOffers(ctx context.Context, driverID string, since time.Time) ([]Offer, error)
	// OfferChanges returns the drivers whose offers changed at or after since.
	OfferChanges(ctx context.Context, since time.Time) ([]string, error)
	// NextDue returns the earliest due time of any match, and false when no match is due
	// ever.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// InMatch runs fn in one transaction. It first takes the locks lock names (the
	// match's row, waiting for it, with NotFound for an unknown match; the trip's lock),
	// then claims key; when key was completed before, it returns that call's result with
	// replayed true, without calling fn. Otherwise fn's result is stored as the key's
	// result with the commit. fn's error rolls everything back and is returned as is.
	InMatch(ctx context.Context, lock MatchLock, key idempotency.Key, fn MatchFunc) (result []byte, replayed bool, err error)
	// Dispatch locks one match whose due time is at or before now, skipping matches
	// other transactions hold (FOR UPDATE SKIP LOCKED, so several replicas share the
	// work), and runs fn on it in one transaction; it reports false, without calling
	// fn, when no match is due.
	Dispatch(ctx context.Context, now time.Time, fn func(tx MatchTx, m Match) error) (bool, error)
	// OpenPickups returns the pickups of the SEARCHING and OFFERED matches.
	OpenPickups(ctx context.Context) ([]Point, error)
	// InZones runs fn in one transaction that holds the zones' lock, with the counts
	// stored at the last emission; it stores the counts fn returns (forgetting zero
	// ones) and emits its events. When another transaction holds the lock it does
	// nothing and reports false.
	InZones(ctx context.Context, fn ZoneFunc) (bool, error)
}

// MatchLock names what InMatch locks before it claims the key and calls fn.
type MatchLock struct {
	// MatchID, when set, is the match whose row is locked; fn receives it.
	MatchID string
	// OfferID, when set instead of MatchID, names the match to lock by one of its
	// offers (NotFound for an unknown offer); the offers are read too.
	OfferID string
	// TripID, when set, is a trip whose transaction-scoped lock is taken: creates of one
	// trip's matches run one at a time.
	TripID string
	// Offers, with MatchID, reads the match's offers (oldest first) into Match.Offers
	// with the lock, in the same round trip.
	Offers bool
}

// MatchFunc is a change run by InMatch: m is the locked match (nil when MatchLock names
// none); result is what the idempotency key stores and a retry replays.
type MatchFunc func(tx MatchTx, m *Match) (result []byte, err error)

// MatchTx is the transaction a MatchFunc runs in. Its writes are conditional: each
// reports whether the row was in the state the change expects.
type MatchTx interface {
	// Offers returns the offers of match id, oldest first.
	Offers(ctx context.Context, matchID string) ([]Offer, error)
	// Driver returns driver id, locking the row (FOR NO KEY UPDATE) when lock;
	// NotFound when unknown.
	Driver(ctx context.Context, id string, lock bool) (Driver, error)
	// InsertMatch inserts m; ErrTripHasMatch when its trip has an active match.
	InsertMatch(ctx context.Context, m Match) error
	// UpdateMatch writes m over the stored match if its status is from; false when it
	// is not.
	UpdateMatch(ctx context.Context, m Match, from MatchStatus) (bool, error)
	// InsertOffer inserts o.
	InsertOffer(ctx context.Context, o Offer) error
	// ResolveOffer writes o's status, resolve and update times, decline reason and
	// version over the stored offer if it is PENDING (and, when before is not zero, its
	// expire time is after before); false when it is not.
	ResolveOffer(ctx context.Context, o Offer, before time.Time) (bool, error)
	// ClaimDriver moves driver id from AVAILABLE to OFFERED, held for m, at now, unless
	// another transaction holds the driver's row (it does not wait: SKIP LOCKED). It
	// returns the driver after the change, and false, changing nothing, when the driver
	// is not AVAILABLE or is locked.
	ClaimDriver(ctx context.Context, id string, m *Match, now time.Time) (Driver, bool, error)
	// MoveDriver moves driver id from status from (held for match fromMatch, when set)
	// to status to, held for match m (current match and trip ids; none when m is nil),
	// bumping the version, at now. It returns the driver after the change, and false,
	// changing nothing, when the driver was not in that state.
	MoveDriver(ctx context.Context, id string, from Status, fromMatch string, to Status, m *Match, now time.Time) (Driver, bool, error)
	// Assign is AcceptOffer's three conditional updates, sent together: offer o (as
	// resolved, ACCEPTED) over the stored one if it is PENDING and its expire time is
	// after now; match m (ASSIGNED) over the stored one if it is OFFERED; the driver
	// OFFERED for m to ON_TRIP for m. It returns the driver after the change, and false
	// when any condition did not hold (the caller then rolls back).
	Assign(ctx context.Context, o Offer, m Match, now time.Time) (Driver, bool, error)
	// Emit queues ev to be written to the outbox with the commit.
	Emit(ev Event) error
}
