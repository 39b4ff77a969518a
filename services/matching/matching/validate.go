package matching

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
)

// Limits of the API (see driver.proto and service.proto), checked by the validators below.
const (
	// MaxNameLength is the longest driver name, in characters.
	MaxNameLength = 200
	// MaxCityLength is the longest city code.
	MaxCityLength = 64
	// MaxPlateLength is the longest vehicle plate, in characters.
	MaxPlateLength = 20
	// MaxModelLength is the longest vehicle model, in characters.
	MaxModelLength = 100
	// MaxProducts is the most products a vehicle serves.
	MaxProducts = 10
	// MaxCodeLength is the longest product code.
	MaxCodeLength = 32
	// MaxSubStatusLength is the longest sub-status.
	MaxSubStatusLength = 64
	// MaxRequestIDLength is the contract's bound on request ids, tighter than the kit's.
	MaxRequestIDLength = 64
	// MaxFixAhead is how far in the server's future a fix's time may lie.
	MaxFixAhead = 30 * time.Second
	// MaxAccuracy is the largest accuracy radius of a fix, in meters.
	MaxAccuracy = 10_000
	// MaxSpeedMPS is the largest ground speed of a fix, in meters per second.
	MaxSpeedMPS = 100
	// MaxRadiusMeters is the widest nearby search.
	MaxRadiusMeters = 50_000
	// DefaultRadius is the radius of a nearby search that asks for 0.
	DefaultRadius = 3_000
	// MaxSearchLimit is the most drivers a nearby search returns.
	MaxSearchLimit = 100
	// DefaultSearchLimit is the limit of a nearby search that asks for 0.
	DefaultSearchLimit = 10
)

// checkRequestID checks an idempotency key: the kit's rule, within the contract's 64
// characters.
func checkRequestID(id string) error {
	if err := idempotency.CheckRequestID(id, false); err != nil {
		return err
	}
	if len(id) > MaxRequestIDLength {
		return errs.Invalid("request_id", "must be at most %d characters", MaxRequestIDLength)
	}
	return nil
}

// checkText checks a required display text of 1 to max characters: valid UTF-8, no
// control characters, no surrounding spaces.
func checkText(field, s string, max int) error {
	if s == "" {
		return errs.Invalid(field, "is required")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return errs.Invalid(field, "must be at most %d characters, got %d", max, n)
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errs.Invalid(field, "must be printable UTF-8 text")
	}
	if strings.TrimSpace(s) != s {
		return errs.Invalid(field, "must not begin or end with spaces")
	}
	return nil
}

// snake reports whether s holds only lower-case letters, digits and underscores.
func snake(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// CheckProduct checks a ride product code: 1 to 32 lower-case letters, digits and
// underscores.
func CheckProduct(field, s string) error {
	if s == "" {
		return errs.Invalid(field, "is required")
	}
	if len(s) > MaxCodeLength || !snake(s) {
		return errs.Invalid(field, "must be 1 to %d lower-case letters, digits and underscores, like \"standard\"", MaxCodeLength)
	}
	return nil
}

// checkSubStatus checks a free-form sub-status: 0 to 64 lower-case letters, digits and
// underscores.
func checkSubStatus(field, s string) error {
	if len(s) > MaxSubStatusLength || !snake(s) {
		return errs.Invalid(field, "must be 0 to %d lower-case letters, digits and underscores", MaxSubStatusLength)
	}
	return nil
}

// checkProducts checks a vehicle's products: 1 to 10 distinct product codes.
func checkProducts(field string, ps []string) error {
	if len(ps) == 0 || len(ps) > MaxProducts {
		return errs.Invalid(field, "must hold 1 to %d products, got %d", MaxProducts, len(ps))
	}
	for i, p := range ps {
		f := field + "[" + strconv.Itoa(i) + "]"
		if err := CheckProduct(f, p); err != nil {
			return err
		}
		for _, q := range ps[:i] {
			if q == p {
				return errs.Invalid(f, "repeats product %q", p)
			}
		}
	}
	return nil
}

// checkVehicle checks a whole vehicle; field is its path in the request.
func checkVehicle(field string, v Vehicle) error {
	if err := checkText(field+".plate", v.Plate, MaxPlateLength); err != nil {
		return err
	}
	if err := checkText(field+".model", v.Model, MaxModelLength); err != nil {
		return err
	}
	return checkProducts(field+".products", v.Products)
}

// CheckPoint checks a position: finite, latitude in [-90, 90], longitude in [-180, 180];
// field is its path in the request.
func CheckPoint(field string, p Point) error {
	if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
		return errs.Invalid(field+".latitude", "must be in [-90, 90], got %v", p.Lat)
	}
	if math.IsNaN(p.Lng) || p.Lng < -180 || p.Lng > 180 {
		return errs.Invalid(field+".longitude", "must be in [-180, 180], got %v", p.Lng)
	}
	return nil
}

// CheckFix checks a position fix received at now; field is its path in the request.
func CheckFix(field string, f Fix, now time.Time) error {
	if err := CheckPoint(field+".point", f.Point); err != nil {
		return err
	}
	if f.Time.IsZero() {
		return errs.Invalid(field+".fix_time", "is required")
	}
	if f.Time.After(now.Add(MaxFixAhead)) {
		return errs.Invalid(field+".fix_time", "must be at most %s ahead of the server's clock", MaxFixAhead)
	}
	if !(f.AccuracyMeters >= 0 && f.AccuracyMeters <= MaxAccuracy) {
		return errs.Invalid(field+".accuracy_meters", "must be in [0, %d], got %v", MaxAccuracy, f.AccuracyMeters)
	}
	if !(f.HeadingDegrees >= 0 && f.HeadingDegrees < 360) {
		return errs.Invalid(field+".heading_degrees", "must be in [0, 360), got %v", f.HeadingDegrees)
	}
	if !(f.SpeedMPS >= 0 && f.SpeedMPS <= MaxSpeedMPS) {
		return errs.Invalid(field+".speed_meters_per_second", "must be in [0, %d], got %v", MaxSpeedMPS, f.SpeedMPS)
	}
	return nil
}
