package fare

import (
	"cmp"
	"math"
	"time"
	"unicode/utf8"

	citycode "github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
)

// DefaultZone is the city-wide surge zone.
const DefaultZone = "default"

// Surge limits.
const (
	// MaxSurgeBps is the highest surge multiplier, 10x.
	MaxSurgeBps = 100000
	// MinRadiusMeters and MaxRadiusMeters bound a zone's circle.
	MinRadiusMeters = 100
	MaxRadiusMeters = 50000
	// MaxSurgeDuration is how far ahead a surge's expire time may lie; a surge meant to
	// last longer leaves it unset and is ended by a later SetSurge.
	MaxSurgeDuration = 366 * 24 * time.Hour
)

// GeoPoint is a point on Earth in degrees. Coordinates only decide which zone contains a
// pickup; prices never depend on floating point.
type GeoPoint struct {
	// Latitude is -90 to 90, Longitude -180 to 180.
	Latitude, Longitude float64
}

// validatePoint checks a point's coordinates; field is its path.
func validatePoint(field string, p *GeoPoint) error {
	if p == nil {
		return errs.Invalid(field, "is required")
	}
	if math.IsNaN(p.Latitude) || p.Latitude < -90 || p.Latitude > 90 {
		return errs.Invalid(field+".latitude", "must be from -90 to 90")
	}
	if math.IsNaN(p.Longitude) || p.Longitude < -180 || p.Longitude > 180 {
		return errs.Invalid(field+".longitude", "must be from -180 to 180")
	}
	return nil
}

// DistanceMeters returns the great-circle distance between a and b (haversine, mean
// Earth radius).
func DistanceMeters(a, b GeoPoint) float64 {
	const earthRadius = 6371008.8
	rad := math.Pi / 180
	dLat := (b.Latitude - a.Latitude) * rad
	dLng := (b.Longitude - a.Longitude) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Latitude*rad)*math.Cos(b.Latitude*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(min(h, 1)))
}

// Surge is the demand multiplier of a zone of a city.
type Surge struct {
	// City and Zone identify the surge; Zone DefaultZone is city-wide.
	City, Zone string
	// MultiplierBps is 10000 (no surge) to MaxSurgeBps.
	MultiplierBps int32
	// Center and RadiusMeters are the zone's circle; nil and 0 for the default zone.
	Center       *GeoPoint
	RadiusMeters int32
	// ExpireTime is when the surge ends; zero means until changed.
	ExpireTime time.Time
	// Reason says why it was set.
	Reason string
	// Actor is the subject of the caller who last set it.
	Actor string
	// CreateTime is when the zone was first set; UpdateTime when it was last set.
	CreateTime, UpdateTime time.Time
	// Version increases by one on every set.
	Version int64
}

// ActiveBps returns the multiplier in force at now: 10000 once the surge has expired.
func (s Surge) ActiveBps(now time.Time) int32 {
	if !s.ExpireTime.IsZero() && !s.ExpireTime.After(now) {
		return OneX
	}
	return s.MultiplierBps
}

// Contains reports whether p lies in the zone: the default zone contains every point.
func (s Surge) Contains(p GeoPoint) bool {
	if s.Zone == DefaultZone {
		return true
	}
	return s.Center != nil && DistanceMeters(*s.Center, p) <= float64(s.RadiusMeters)
}

// PickSurge returns the surge that applies at pickup among a city's zones: the smallest
// zone whose circle contains it (ties broken by zone id), else the default zone; ok is
// false when neither exists (1.0x). An expired zone still applies, at 1.0x.
func PickSurge(zones []Surge, pickup GeoPoint) (s Surge, ok bool) {
	for _, z := range zones {
		if z.Contains(pickup) && (!ok || narrower(z, s)) {
			s, ok = z, true
		}
	}
	return s, ok
}

// narrower reports whether zone a applies before zone b where both contain a pickup:
// any circle before the default zone, a smaller circle before a larger, then the lower
// zone id.
func narrower(a, b Surge) bool {
	if (a.Zone == DefaultZone) != (b.Zone == DefaultZone) {
		return b.Zone == DefaultZone
	}
	return cmp.Or(cmp.Compare(a.RadiusMeters, b.RadiusMeters), cmp.Compare(a.Zone, b.Zone)) < 0
}

// validateZone checks a zone id: 1 to 64 lower-case letters, digits or "-".
func validateZone(field, z string) error {
	if z == "" {
		return errs.Invalid(field, "is required")
	}
	if len(z) > MaxKeyLength {
		return errs.Invalid(field, "at most %d characters", MaxKeyLength)
	}
	for _, r := range z {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return errs.Invalid(field, "must be lower-case letters, digits or '-'")
		}
	}
	return nil
}

// ValidateZoneRef checks the city and zone of a surge lookup (fields "city", "zone").
func ValidateZoneRef(city, zone string) error {
	if err := citycode.Check("city", city); err != nil {
		return err
	}
	return validateZone("zone", zone)
}

// ValidateSurge checks a surge about to be set (field "surge") at now.
func ValidateSurge(s Surge, now time.Time) error {
	const f = "surge"
	if err := citycode.Check(f+".city", s.City); err != nil {
		return err
	}
	if err := validateZone(f+".zone", s.Zone); err != nil {
		return err
	}
	if s.MultiplierBps < OneX || s.MultiplierBps > MaxSurgeBps {
		return errs.Invalid(f+".multiplier_bps", "must be from 10000 to %d, got %d", MaxSurgeBps, s.MultiplierBps)
	}
	if s.Zone == DefaultZone {
		if s.Center != nil {
			return errs.Invalid(f+".center", "must be unset for the default zone")
		}
		if s.RadiusMeters != 0 {
			return errs.Invalid(f+".radius_meters", "must be 0 for the default zone")
		}
	} else {
		if err := validatePoint(f+".center", s.Center); err != nil {
			return err
		}
		if s.RadiusMeters < MinRadiusMeters || s.RadiusMeters > MaxRadiusMeters {
			return errs.Invalid(f+".radius_meters", "must be from %d to %d, got %d", MinRadiusMeters, MaxRadiusMeters, s.RadiusMeters)
		}
	}
	if !s.ExpireTime.IsZero() && !s.ExpireTime.After(now) {
		return errs.Invalid(f+".expire_time", "must be in the future")
	}
	if s.ExpireTime.After(now.Add(MaxSurgeDuration)) {
		return errs.Invalid(f+".expire_time", "must be at most %d days ahead; leave it unset for a surge until changed", MaxSurgeDuration/(24*time.Hour))
	}
	if !utf8.ValidString(s.Reason) {
		return errs.Invalid(f+".reason", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s.Reason); n > MaxDescriptionLength {
		return errs.Invalid(f+".reason", "at most %d characters, got %d", MaxDescriptionLength, n)
	}
	if s.Version < 0 {
		return errs.Invalid(f+".version", "must be 0 or the current version, got %d", s.Version)
	}
	return nil
}

// RideQuoteInput asks for the estimated price of a ride.
type RideQuoteInput struct {
	// City and Product name the ride product.
	City, Product string
	// Pickup selects the surge zone; Dropoff is recorded for validation only.
	Pickup, Dropoff *GeoPoint
	// DistanceMeters and DurationSeconds are the estimates.
	DistanceMeters, DurationSeconds int64
}

// Key returns the ride product key of the input.
func (in RideQuoteInput) Key() ProductKey {
	return ProductKey{Kind: KindRide, Ride: RideProduct{City: in.City, Product: in.Product}}
}

// Validate checks the input.
func (in RideQuoteInput) Validate() error {
	if err := citycode.Check("city", in.City); err != nil {
		return err
	}
	if err := validateKeyString("product", in.Product); err != nil {
		return err
	}
	if err := validatePoint("pickup", in.Pickup); err != nil {
		return err
	}
	if err := validatePoint("dropoff", in.Dropoff); err != nil {
		return err
	}
	if in.DistanceMeters < 1 || in.DistanceMeters > MaxDistanceMeters {
		return errs.Invalid("estimated_distance_meters", "must be from 1 to %d, got %d", MaxDistanceMeters, in.DistanceMeters)
	}
	if in.DurationSeconds < 1 || in.DurationSeconds > MaxDurationSeconds {
		return errs.Invalid("estimated_duration_seconds", "must be from 1 to %d, got %d", MaxDurationSeconds, in.DurationSeconds)
	}
	return nil
}

// BuildRideQuote prices a validated ride input from card, the city's surge zones and
// the pickup cell's automatic surge (nil when none) at now (see PickRideSurge). It is a pure function: the same inputs give the same quote.
func BuildRideQuote(card RateCard, zones []Surge, auto *ZoneSurge, in RideQuoteInput, now time.Time) Quote {
	surgeBps, zone, expire := PickRideSurge(zones, auto, *in.Pickup, now)
	p := PriceRide(card, in.DistanceMeters, in.DurationSeconds, surgeBps)
	return Quote{
		Key:             in.Key(),
		RateCardID:      card.ID,
		RateVersion:     card.Version,
		Currency:        card.Currency,
		Quantity:        1,
		Nights:          1,
		Price:           p.Total,
		MultiplierBps:   p.MultiplierBps,
		SurgeZone:       zone,
		DistanceMeters:  in.DistanceMeters,
		DurationSeconds: in.DurationSeconds,
		Lines:           p.Lines,
		CreateTime:      now,
		ValidUntil:      now.Add(RideQuoteValidity),
		SurgeExpire:     expire,
	}
}
