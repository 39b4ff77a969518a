package trip

import (
	"time"

	"github.com/waybill/waybill/kit/money"
)

// Status is a trip's owner-enforced status (see Service for the transitions).
type Status string

// The statuses, as stored.
const (
	StatusRequested      Status = "requested"
	StatusDriverAssigned Status = "driver_assigned"
	StatusStarted        Status = "started"
	StatusEnded          Status = "ended"
	StatusCancelled      Status = "cancelled"
)

// Active reports whether s is a status of an unfinished ride: a rider has at most one.
func (s Status) Active() bool {
	return s == StatusRequested || s == StatusDriverAssigned || s == StatusStarted
}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return s.Active() || s == StatusEnded || s == StatusCancelled }

// Actor says who cancelled a trip.
type Actor string

// The actors, derived from the caller's role.
const (
	ActorRider    Actor = "rider"
	ActorDriver   Actor = "driver"
	ActorOperator Actor = "operator"
	ActorSystem   Actor = "system"
)

// Point is a position on earth in degrees.
type Point struct {
	Lat, Lng float64
}

// RoutePoint is one recorded position of a ride.
type RoutePoint struct {
	Point Point
	Time  time.Time
}

// Cancellation records who cancelled a trip, when and why.
type Cancellation struct {
	Actor   Actor
	ActorID string
	Reason  string
	Time    time.Time
}

// TimelineEntry is one notable moment of a trip.
type TimelineEntry struct {
	Time  time.Time `json:"time"`
	Label string    `json:"label"`
}

// View says how much of a trip a read returns.
type View int

// The views: Basic omits the timeline and the route, Standard adds the timeline, Full
// adds the route.
const (
	ViewBasic View = iota
	ViewStandard
	ViewFull
)

// Trip is one ride: what the rider asked for, who drove, and what actually happened.
type Trip struct {
	ID         string
	CustomerID string
	Pickup     Point
	Dropoff    Point
	Product    string
	City       string
	Status     Status
	SubStatus  string
	DriverID   string
	MatchID    string
	// MatchRequestID is the request id of the CreateMatch call that started the trip's
	// search; a retry of the call with it finds the same match.
	MatchRequestID string
	Estimate       money.Money
	QuoteID        string
	// SurgeBps is the surge multiplier of the quote, in basis points (10000 = 1.0x).
	SurgeBps int32
	// FinalFare is the fare computed by fare; nil until set.
	FinalFare     *money.Money
	ActualDropoff *Point
	// Route is the recorded route, oldest first; filled only where a read asks for it.
	Route           []RoutePoint
	LastRoutePoint  *RoutePoint
	DistanceMeters  int64
	DurationSeconds int64
	AssignTime      time.Time
	StartTime       time.Time
	EndTime         time.Time
	Cancellation    *Cancellation
	Timeline        []TimelineEntry
	CreateTime      time.Time
	UpdateTime      time.Time
	Version         int64
	// Published is false while the request is still being set up (see the package
	// documentation): an unpublished trip is invisible to every read.
	Published bool
	// Abandoning is true while the sweeper undoes an unpublished request.
	Abandoning bool
}

// Filter selects trips in ListTrips; zero fields select all.
type Filter struct {
	CustomerID string
	DriverID   string
	Status     Status
}

// Cursor is a position in a list of trips, newest first.
type Cursor struct {
	CreateTime time.Time `json:"t"`
	ID         string    `json:"id"`
}

// Page is one page of trips.
type Page struct {
	Trips         []Trip
	NextPageToken string
}
