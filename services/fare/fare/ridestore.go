package fare

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// RideStore is the storage of ride fares: the finished trips fare has recorded (from
// trip's events) and the fares calculated from them or by CalculateRideFare.
type RideStore interface {
	// RunRide serializes on tripID and runs fn in one transaction whose writes (the fare
	// and its event) commit together. It claims key first: a retry of a completed key
	// returns replayed true without running fn; the same request id with other
	// parameters fails with INVALID_ARGUMENT.
	RunRide(ctx context.Context, tripID string, key idempotency.Key, fn func(tx RideTx) error) (replayed bool, err error)
	// Fare returns a trip's fare; NotFound when it has none.
	Fare(ctx context.Context, tripID string) (Fare, error)
	// Calculating reports whether fare has recorded the trip's end but not its fare.
	Calculating(ctx context.Context, tripID string) (customerID string, calculating bool, err error)
	// ListFares returns up to limit fares matching f older than after (nil for the
	// first page), newest first.
	ListFares(ctx context.Context, f FareFilter, after *FareCursor, limit int) ([]Fare, error)
	// DueTrips returns up to limit recorded trips without a fare whose next attempt is due
	// at now, oldest first.
	DueTrips(ctx context.Context, now time.Time, limit int) ([]string, error)
	// RetryTrip locks the record of tripID and, unless it has a fare by now, runs fn
	// with it in the lock's transaction.
	RetryTrip(ctx context.Context, tripID string, fn func(tx RideTx, rec TripRecord, attempts int) error) error
}

// RideTx is what pricing one trip reads and writes, inside one transaction.
type RideTx interface {
	// Fare returns a trip's fare, ok false when it has none.
	Fare(ctx context.Context, tripID string) (f Fare, ok bool, err error)
	// Quote returns a stored quote, ok false for an unknown id.
	Quote(ctx context.Context, id string) (q Quote, ok bool, err error)
	// RateCardVersion returns one version of a card.
	RateCardVersion(ctx context.Context, id string, version int64) (RateCard, error)
	// RideCardAt returns the version of the card of key in effect at t; ok false when
	// none was. With after true it returns instead the earliest version that took effect
	// after t (and by now).
	RideCardAt(ctx context.Context, key ProductKey, t time.Time, after bool) (c RateCard, ok bool, err error)
	// RecordTrip stores a finished trip's record, ok false when the trip was recorded
	// before (the record is then left as it was).
	RecordTrip(ctx context.Context, rec TripRecord, now time.Time) (ok bool, err error)
	// InsertFare stores a fare, marks the trip's record (if any) priced and emits
	// fare.fare.calculated, with the transaction's commit.
	InsertFare(ctx context.Context, f Fare) error
	// MarkPriced marks a recorded trip as needing no (further) fare.
	MarkPriced(ctx context.Context, tripID string) error
	// Postpone records a failed attempt to price a trip and when to try again.
	Postpone(ctx context.Context, tripID, reason string, next time.Time) error
}
