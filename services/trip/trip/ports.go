package trip

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/money"
)

// Standing is a rider's account standing as billing reports it.
type Standing int

// The standings, best first.
const (
	StandingGood Standing = iota + 1
	StandingPastDue
	StandingBlocked
)

// Billing is the port to the billing service: the rider's standing. Implementations
// return kit/errs errors: Unavailable (reason BILLING_UNAVAILABLE) when billing cannot
// answer now.
type Billing interface {
	Standing(ctx context.Context, customerID string) (Standing, error)
}

// Suspensions is the port to trip's own read model of the account service's
// suspensions (kit/accountgate); nil when the gate is off.
type Suspensions interface {
	// CheckCustomer returns FAILED_PRECONDITION, reason CUSTOMER_SUSPENDED, when the
	// account customerID is suspended.
	CheckCustomer(ctx context.Context, customerID string) error
}

// QuoteInput is what trip asks fare to price.
type QuoteInput struct {
	City, Product   string
	Pickup, Dropoff Point
	DistanceMeters  int64
	DurationSeconds int64
}

// Quote is fare's stored estimate: the price, and the surge in effect it locked in.
type Quote struct {
	ID            string
	Price         money.Money
	MultiplierBps int32
	SurgeZone     string
	ValidUntil    time.Time
}

// Fare is the port to the fare service. QuoteRide fails with FailedPrecondition, reason
// PRODUCT_NOT_OFFERED, when no rate card prices the product in the city, and with
// Unavailable (FARE_UNAVAILABLE) when fare cannot answer now.
type Fare interface {
	QuoteRide(ctx context.Context, in QuoteInput) (Quote, error)
}

// MatchRequest starts a driver search for a trip.
type MatchRequest struct {
	TripID    string
	Pickup    Point
	Product   string
	RequestID string
	Options   MatchOptions
}

// MatchOptions tunes matching's search; zero values take matching's defaults.
type MatchOptions struct {
	OfferTimeout       time.Duration
	MaxAttempts        int32
	SearchRadiusMeters int32
	FanOut             int32
}

// MatchStatus is the status of a match as trip needs it.
type MatchStatus int

// The match statuses trip distinguishes.
const (
	MatchSearching MatchStatus = iota + 1
	MatchAssigned
	MatchFailed
	MatchCancelled
)

// Match is a match in matching.
type Match struct {
	ID, TripID, DriverID string
	Status               MatchStatus
	AssignTime           time.Time
}

// Matching is the port to the matching service. Errors are kit/errs errors;
// Unavailable (MATCHING_UNAVAILABLE) means the outcome of a call is unknown (it may have
// taken effect): every call is idempotent by its request id, so it may be made again.
type Matching interface {
	CreateMatch(ctx context.Context, r MatchRequest) (Match, error)
	CancelMatch(ctx context.Context, matchID, reason, requestID string) error
	ReleaseDriver(ctx context.Context, driverID, tripID, reason, requestID string) error
	Match(ctx context.Context, matchID string) (Match, error)
}
