package fare

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/money"
)

// Ride fares are computed from the completed trip record (TripRecord), never from the
// request: the distance from the route actually driven, the duration from the trip's own
// timestamps, and the rate card version and surge locked by the quote the rider accepted.

// Limits and constants of ride fares.
const (
	// MaxPlausibleSpeed is the highest speed, in meters per second (about 200 km/h), a car
	// can have between two route points; a point that would need more is a GPS outlier and
	// is dropped.
	MaxPlausibleSpeed = 55.0
	// JitterMeters is the GPS noise a route is filtered for: the route's distance only
	// grows when the car has moved at least this far from the last counted point, so a
	// standing car whose fixes wander within about 10 m adds nothing.
	JitterMeters = 25.0
	// MaxRouteGap is the longest silence between two route points of a dense route; a
	// longer gap makes the route sparse (its straight segment would cut corners).
	MaxRouteGap = 2 * time.Minute
	// MinRouteCoverage is the share of the ride's duration, in percent, the route's points
	// must span for the route to be dense.
	MinRouteCoverage = 50
	// RoadFactor is how much longer than the great-circle distance a road trip is assumed
	// to be, in percent, when the route is sparse and the trip reported no distance.
	RoadFactor = 130
	// CancellationGrace is how long after a driver was assigned a rider may cancel
	// without a fee (trip applies it, see FeeDueSubStatus).
	CancellationGrace = 2 * time.Minute
)

// The sources of a fare's distance (Fare.distance_source).
const (
	DistanceFromRoute    = "route"
	DistanceReported     = "reported"
	DistanceStraightLine = "straight_line"
	DistanceFromRequest  = "request"
	DistanceNone         = "none"
)

// RoutePoint is one recorded position of a ride.
type RoutePoint struct {
	// Point is the position.
	Point GeoPoint `json:"point"`
	// Time is when the driver's device measured it.
	Time time.Time `json:"time"`
}

// CancelActor says who cancelled a trip, as trip records it.
type CancelActor string

// The actors whose cancellation fare distinguishes.
const (
	CancelByRider CancelActor = "rider"
	CancelByOther CancelActor = "other"
)

// TripRecord is what fare reads of a finished trip: the payload of trip's trip-ended (or
// trip-cancelled) event. Fare stores it as received, so a fare can always be explained
// and recomputed from it.
type TripRecord struct {
	// TripID, CustomerID, City and Product identify the ride and who pays.
	TripID     string `json:"trip_id"`
	CustomerID string `json:"customer_id"`
	City       string `json:"city"`
	Product    string `json:"product"`
	// QuoteID is the ride quote of the request; empty when none.
	QuoteID string `json:"quote_id,omitempty"`
	// RequestTime is when the trip was requested.
	RequestTime time.Time `json:"request_time"`
	// StartTime and EndTime are the ride's own timestamps; zero for a cancelled trip.
	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
	// Route is the route actually driven, as recorded (any order; fare sorts it).
	Route []RoutePoint `json:"route,omitempty"`
	// Pickup is where the rider asked to be picked up; ActualDropoff where they got out
	// (Dropoff, the requested drop-off, when unset).
	Pickup        *GeoPoint `json:"pickup,omitempty"`
	Dropoff       *GeoPoint `json:"dropoff,omitempty"`
	ActualDropoff *GeoPoint `json:"actual_dropoff,omitempty"`
	// ReportedDistanceMeters and ReportedDurationSeconds are the trip's own figures,
	// used only as fallbacks.
	ReportedDistanceMeters  int64 `json:"reported_distance_meters,omitempty"`
	ReportedDurationSeconds int64 `json:"reported_duration_seconds,omitempty"`
	// Cancelled is true for a cancelled trip; FeeDue says that trip found a cancellation
	// fee due (its sub-status "cancellation_fee_due": trip decides whether, fare how
	// much). CancelledBy, AssignTime and CancelTime are recorded for the explanation.
	Cancelled   bool        `json:"cancelled,omitempty"`
	FeeDue      bool        `json:"fee_due,omitempty"`
	CancelledBy CancelActor `json:"cancelled_by,omitempty"`
	AssignTime  time.Time   `json:"assign_time,omitzero"`
	CancelTime  time.Time   `json:"cancel_time,omitzero"`
}

// FeeDueSubStatus is the sub-status trip gives a cancelled trip that owes a
// cancellation fee (the rider cancelled at least CancellationGrace after a driver was
// assigned).
const FeeDueSubStatus = "cancellation_fee_due"

// RouteMeasure is the distance of a ride and how it was found.
type RouteMeasure struct {
	// Meters is the distance, at most MaxDistanceMeters.
	Meters int64 `json:"meters"`
	// Source is one of the Distance… constants.
	Source string `json:"source"`
	// Points is the number of route points received, Outliers those dropped for an
	// impossible speed, Counted those that advanced the distance.
	Points   int `json:"points"`
	Outliers int `json:"outliers"`
	Counted  int `json:"counted"`
	// Sparse says why the route was not used, empty when it was.
	Sparse string `json:"sparse,omitempty"`
}

// MeasureRoute returns the distance of an ended ride from its recorded route:
//
//  1. Points are put in time order; points at an already seen time are dropped.
//  2. A point that would need a speed above MaxPlausibleSpeed from the last kept point
//     is an outlier and is dropped.
//  3. The distance sums great-circle hops between counted points: a point is counted
//     when it lies at least JitterMeters from the last counted point, so the noise of a
//     standing car does not accumulate; the last point is always counted.
//
// The route is sparse when fewer than two points remain, two consecutive points are more
// than MaxRouteGap apart, or the points span less than MinRouteCoverage percent of the
// ride. Then the trip's reported distance is used, or, when it reported none, RoadFactor
// percent of the great-circle distance from the first known position to the drop-off
// (never less than what the sparse route itself measured).
func MeasureRoute(rec TripRecord) RouteMeasure {
	pts := slices.Clone(rec.Route)
	slices.SortStableFunc(pts, func(a, b RoutePoint) int { return a.Time.Compare(b.Time) })
	pts = slices.CompactFunc(pts, func(a, b RoutePoint) bool { return a.Time.Equal(b.Time) })
	m := RouteMeasure{Points: len(rec.Route), Source: DistanceFromRoute}

	var kept []RoutePoint
	for _, p := range pts {
		if validPoint(p.Point) != nil {
			m.Outliers++
			continue
		}
		if n := len(kept); n > 0 {
			dt := p.Time.Sub(kept[n-1].Time).Seconds()
			if DistanceMeters(kept[n-1].Point, p.Point) > MaxPlausibleSpeed*dt {
				m.Outliers++
				continue
			}
		}
		kept = append(kept, p)
	}

	var meters float64
	if len(kept) > 0 {
		anchor := kept[0].Point
		m.Counted = 1
		for i, p := range kept[1:] {
			d := DistanceMeters(anchor, p.Point)
			if d >= JitterMeters || i == len(kept)-2 {
				meters += d
				anchor = p.Point
				m.Counted++
			}
		}
	}

	duration := rec.EndTime.Sub(rec.StartTime)
	switch {
	case len(kept) < 2:
		m.Sparse = "fewer than 2 usable route points"
	case duration > 0 && kept[len(kept)-1].Time.Sub(kept[0].Time)*100 < duration*MinRouteCoverage:
		m.Sparse = fmt.Sprintf("the route spans less than %d%% of the ride", MinRouteCoverage)
	default:
		for i := 1; i < len(kept); i++ {
			if kept[i].Time.Sub(kept[i-1].Time) > MaxRouteGap {
				m.Sparse = fmt.Sprintf("a gap of more than %v between route points", MaxRouteGap)
				break
			}
		}
	}
	if m.Sparse != "" {
		switch {
		case rec.ReportedDistanceMeters > 0:
			meters, m.Source = float64(rec.ReportedDistanceMeters), DistanceReported
		default:
			from, to := rec.Pickup, rec.ActualDropoff
			if len(kept) > 0 {
				from = &kept[0].Point
			}
			if to == nil {
				to = rec.Dropoff
			}
			if to == nil && len(kept) > 0 {
				to = &kept[len(kept)-1].Point
			}
			if from != nil && to != nil {
				meters = max(meters, DistanceMeters(*from, *to)*RoadFactor/100)
			}
			m.Source = DistanceStraightLine
		}
	}
	m.Meters = min(int64(math.Round(meters)), MaxDistanceMeters)
	return m
}

// validPoint checks a point's coordinates.
func validPoint(p GeoPoint) error { return validatePoint("point", &p) }

// RideDuration returns the ride's duration in whole seconds from the trip's own
// timestamps (end − start, rounded down), or the trip's reported duration when they are
// missing; at most MaxDurationSeconds.
func RideDuration(rec TripRecord) int64 {
	if !rec.StartTime.IsZero() && !rec.EndTime.IsZero() && !rec.EndTime.Before(rec.StartTime) {
		return min(int64(rec.EndTime.Sub(rec.StartTime)/time.Second), MaxDurationSeconds)
	}
	return min(max(rec.ReportedDurationSeconds, 0), MaxDurationSeconds)
}

// LateCancellation reports whether a cancelled trip owes a cancellation fee. Trip
// decides (FeeDue: the rider cancelled at least CancellationGrace after a driver was
// assigned); fare prices it (CancellationFee).
func LateCancellation(rec TripRecord) bool { return rec.Cancelled && rec.FeeDue }

// Fare is the final price of a ride, computed from what actually happened. A trip has at
// most one, and it never changes.
type Fare struct {
	// TripID is the fare's identity; CustomerID pays.
	TripID, CustomerID string
	// City and Product name the ride product.
	City, Product string
	// DistanceMeters and DurationSeconds are what was priced; DistanceSource says where
	// the distance came from.
	DistanceMeters, DurationSeconds int64
	DistanceSource                  string
	// RateCardID and RateVersion name the rate card version used.
	RateCardID  string
	RateVersion int64
	// SurgeBps is the surge multiplier applied, after clamping.
	SurgeBps int32
	// QuoteID is the quote whose rate version and surge were honoured; empty when none.
	QuoteID string
	// Lines add up to Total.
	Lines []PriceLine
	// Total is what the rider owes.
	Total money.Money
	// RequestTime is when the trip was requested; CreateTime when the fare was
	// calculated.
	RequestTime, CreateTime time.Time
	// Inputs are what the fare was computed from, stored with it (not part of the API).
	Inputs FareInputs
}

// FareInputs are the inputs of a fare beyond its API fields: enough to recompute it.
type FareInputs struct {
	// Route is how the distance was measured; nil for CalculateRideFare.
	Route *RouteMeasure `json:"route,omitempty"`
	// Cancellation is true for a cancellation fee.
	Cancellation bool `json:"cancellation,omitempty"`
	// Fallback is true when no rate card version was in effect at the request time and
	// the first version that took effect after it was used.
	Fallback bool `json:"fallback,omitempty"`
}

// SameInputs reports whether f was computed from the same call parameters as g: the
// parameters of CalculateRideFare (a repeat returns the fare unchanged, another call
// fails with ALREADY_EXISTS).
func (f Fare) SameInputs(g Fare) bool {
	return f.TripID == g.TripID && f.CustomerID == g.CustomerID && f.City == g.City && f.Product == g.Product &&
		f.DistanceMeters == g.DistanceMeters && f.DurationSeconds == g.DurationSeconds &&
		f.RequestTime.Equal(g.RequestTime) && f.QuoteID == g.QuoteID
}

// LockedQuote reports whether quote q locks the rate version and surge of a ride of
// city and product requested at requestTime: a ride quote of the same product that was
// still valid then.
func LockedQuote(q Quote, city, product string, requestTime time.Time) bool {
	return q.Key.Kind == KindRide && q.Key.Ride.City == city && q.Key.Ride.Product == product &&
		!requestTime.After(q.ValidUntil)
}

// PriceFare prices a ride of meters and seconds from card at surgeBps (see PriceRide)
// into f, whose identity fields the caller set.
func PriceFare(f Fare, card RateCard, surgeBps int32) Fare {
	p := PriceRide(card, f.DistanceMeters, f.DurationSeconds, surgeBps)
	f.RateCardID, f.RateVersion, f.SurgeBps = card.ID, card.Version, p.MultiplierBps
	f.Lines, f.Total = p.Lines, money.New(p.Total, card.Currency)
	return f
}

// CancellationFee prices a late cancellation: the card's minimum fare, one line
// "cancellation_fee", no surge.
func CancellationFee(f Fare, card RateCard) Fare {
	fee := card.Ride.MinimumFare.Amount
	f.RateCardID, f.RateVersion, f.SurgeBps = card.ID, card.Version, OneX
	f.DistanceMeters, f.DurationSeconds, f.DistanceSource = 0, 0, DistanceNone
	f.Lines = []PriceLine{{Code: "cancellation_fee", Description: fmt.Sprintf("cancelled more than %v after a driver was assigned", CancellationGrace), Amount: fee}}
	f.Total = money.New(fee, card.Currency)
	f.Inputs.Cancellation = true
	return f
}

// FarePage is one page of fares, newest first.
type FarePage struct {
	// Fares are the page's fares.
	Fares []Fare
	// NextPageToken asks for the next page; empty on the last page.
	NextPageToken string
}

// FareFilter selects fares; zero fields select all.
type FareFilter struct {
	// CustomerID selects one rider's fares.
	CustomerID string
	// City selects one city's fares.
	City string
	// From and To bound the calculation time: From inclusive, To exclusive.
	From, To time.Time
}

// FareCursor is the position after which a fare page starts: fares older than it.
type FareCursor struct {
	// CreateTime and TripID of the last fare of the previous page.
	CreateTime time.Time `json:"t"`
	TripID     string    `json:"id"`
}
