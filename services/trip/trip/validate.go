package trip

import (
	"fmt"
	"math"
	"regexp"
	"time"

	citycode "github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
)

// Limits of the contract (proto/waybill/trip/v1).
const (
	// MaxRequestID is the longest request id trip accepts, in bytes.
	MaxRequestID = 64
	// MaxReason is the longest cancellation reason, in characters.
	MaxReason = 200
	// MaxPointsPerCall is how many route points one RecordTripLocation takes.
	MaxPointsPerCall = 500
	// MaxDistanceMeters and MaxDurationSeconds bound EndTrip's reported values.
	MaxDistanceMeters  = 2_000_000
	MaxDurationSeconds = 172_800
	// FutureSlack is how far in the future a route point's time may be.
	FutureSlack = 30 * time.Second
	// DefaultPageSize and MaxPageSize bound ListTrips' pages.
	DefaultPageSize = 50
	MaxPageSize     = 500
)

var (
	productPattern   = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	subStatusPattern = regexp.MustCompile(`^[a-z0-9_]{0,64}$`)
)

// checkPoint records the violations of a required point named field in v (the point's
// own name, as the contract's errors use it): nil is missing; latitude must be in
// [-90, 90] and longitude in [-180, 180].
func checkPoint(v *errs.Violations, field string, p *Point) {
	if p == nil {
		v.Add(field, "is required")
		return
	}
	if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
		v.Add(field, "latitude must be in [-90, 90]")
	}
	if math.IsNaN(p.Lng) || p.Lng < -180 || p.Lng > 180 {
		v.Add(field, "longitude must be in [-180, 180]")
	}
}

// checkRequestID checks a request id: kit's rule, and the contract's 64 characters.
func checkRequestID(v *errs.Violations, id string) {
	if len(id) > MaxRequestID {
		v.Add("request_id", "must be at most %d characters", MaxRequestID)
		return
	}
	if err := idempotency.CheckRequestID(id, false); err != nil {
		v.Add("request_id", "must be printable ASCII")
	}
}

// checkTripID checks a required trip id.
func checkTripID(v *errs.Violations, id string) { ids.CheckTo(v, "trip_id", id) }

// RequestInput is what a rider asks for.
type RequestInput struct {
	CustomerID string
	Pickup     *Point
	Dropoff    *Point
	Product    string
	City       string
	RequestID  string
}

// validate checks in, naming every invalid field.
func (in RequestInput) validate() error {
	var v errs.Violations
	v.Check(in.CustomerID != "", "customer_id", "is required")
	v.Check(len(in.CustomerID) <= 128, "customer_id", "must be at most 128 characters")
	checkPoint(&v, "pickup", in.Pickup)
	checkPoint(&v, "dropoff", in.Dropoff)
	v.Check(productPattern.MatchString(in.Product), "product", "must be 1 to 32 lower-case letters, digits or underscores")
	if err := citycode.Check("city", in.City); err != nil {
		v.Add("city", "must be a lower-case city code of 1 to %d characters", citycode.MaxLength)
	}
	checkRequestID(&v, in.RequestID)
	return v.Err()
}

// fingerprint returns the digest of the request's parameters for its idempotency key.
func (in RequestInput) fingerprint() []byte {
	f := func(x float64) string { return fmt.Sprintf("%.9f", x) }
	return idempotency.Fingerprint(in.CustomerID, f(in.Pickup.Lat), f(in.Pickup.Lng), f(in.Dropoff.Lat), f(in.Dropoff.Lng), in.Product, in.City)
}

// EndInput is what EndTrip reports.
type EndInput struct {
	TripID          string
	Dropoff         *Point
	DistanceMeters  *int64
	DurationSeconds *int64
	RequestID       string
}

func (in EndInput) validate() error {
	var v errs.Violations
	checkTripID(&v, in.TripID)
	checkPoint(&v, "dropoff", in.Dropoff)
	if in.DistanceMeters != nil {
		v.Check(*in.DistanceMeters >= 0 && *in.DistanceMeters <= MaxDistanceMeters, "distance_meters", "must be from 0 to %d", MaxDistanceMeters)
	}
	if in.DurationSeconds != nil {
		v.Check(*in.DurationSeconds >= 0 && *in.DurationSeconds <= MaxDurationSeconds, "duration_seconds", "must be from 0 to %d", MaxDurationSeconds)
	}
	checkRequestID(&v, in.RequestID)
	return v.Err()
}

// PointInput is one route point as a driver's app sends it; a nil Point or zero Time is
// missing.
type PointInput struct {
	Point *Point
	Time  time.Time
}

func validatePoints(tripID string, points []PointInput) error {
	var v errs.Violations
	checkTripID(&v, tripID)
	switch {
	case len(points) == 0:
		v.Add("points", "at least one point is required")
	case len(points) > MaxPointsPerCall:
		v.Add("points", "at most %d points per call", MaxPointsPerCall)
	}
	for i, p := range points {
		field := fmt.Sprintf("points[%d]", i)
		checkPoint(&v, field+".point", p.Point)
		v.Check(!p.Time.IsZero(), field+".time", "is required")
	}
	return v.Err()
}
