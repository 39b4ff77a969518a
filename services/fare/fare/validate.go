package fare

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// Limits of the API, checked by the validators below.
const (
	// MaxKeyLength is the longest string field of a product key, in characters.
	MaxKeyLength = 64
	// MaxDescriptionLength is the longest rate card description (and surge reason).
	MaxDescriptionLength = 500
	// MaxTiers is the most tiers a load-factor curve may have.
	MaxTiers = 20
	// MaxQuantity is the most seats or rooms one quote may price.
	MaxQuantity = 100
	// MaxNights is the longest stay one quote may price.
	MaxNights = 30
	// MaxDistanceMeters and MaxDurationSeconds bound a ride's estimates.
	MaxDistanceMeters  = 1_000_000
	MaxDurationSeconds = 86_400
	// EffectiveTimeSkew is how far in the past an effective time may lie and still be
	// accepted (as "now"), so that a client whose clock is a little behind, or that sends
	// its own "now", is not refused.
	EffectiveTimeSkew = time.Minute
	// MaxEffectiveAhead is how far ahead a rate card version may be scheduled.
	MaxEffectiveAhead = 5 * 366 * 24 * time.Hour
	// MaxAdvanceDays is how many days ahead of today (UTC) a stay may be quoted: beyond
	// anything booking sells, whose sale horizon is about two years.
	MaxAdvanceDays = 3 * 366
)

// ValidateProductKey checks a key; field is the key's path in the request.
func ValidateProductKey(field string, k ProductKey) error {
	type part struct{ name, value string }
	var parts []part
	switch k.Kind {
	case KindSeat:
		s := k.Seat
		parts = []part{{"carrier", s.Carrier}, {"origin", s.Origin}, {"destination", s.Destination}, {"fare_class", s.FareClass}}
		if s.DepartureID != "" {
			parts = append(parts, part{"departure_id", s.DepartureID})
		}
		field += ".seat"
	case KindStay:
		parts = []part{{"property_id", k.Stay.PropertyID}, {"room_type", k.Stay.RoomType}}
		field += ".stay"
	case KindRide:
		if err := city.Check(field+".ride.city", k.Ride.City); err != nil {
			return err
		}
		parts = []part{{"product", k.Ride.Product}}
		field += ".ride"
	default:
		return errs.Invalid(field, "exactly one of seat, stay or ride is required")
	}
	for _, p := range parts {
		if err := validateKeyString(field+"."+p.name, p.value); err != nil {
			return err
		}
	}
	return nil
}

// validateKeyString checks a required identifier-like string of 1 to 64 characters.
func validateKeyString(field, s string) error {
	if s == "" {
		return errs.Invalid(field, "is required")
	}
	if n := utf8.RuneCountInString(s); n > MaxKeyLength {
		return errs.Invalid(field, "at most %d characters, got %d", MaxKeyLength, n)
	}
	if !printable(s) || strings.TrimSpace(s) != s {
		return errs.Invalid(field, "must be printable text without leading or trailing spaces")
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// normalizeMoney checks an amount on a card with the given currency and fills an empty
// currency with it.
func normalizeMoney(field string, m *money.Money, currency string) error {
	if m.Currency == "" {
		m.Currency = currency
	}
	if m.Currency != currency {
		return errs.Invalid(field+".currency_code", "must be the rate card's currency %s", currency)
	}
	return money.Check(field, *m)
}

// NormalizeRateCard checks a rate card version about to be written, as the request's
// field "rate_card", and normalizes it: empty Money currencies become the card's, and an
// unset effective time (or one at most EffectiveTimeSkew in the past) becomes now.
// Output-only fields are not looked at.
func NormalizeRateCard(c *RateCard, now time.Time) error {
	const f = "rate_card"
	if err := ValidateProductKey(f+".product_key", c.Key); err != nil {
		return err
	}
	if err := money.CheckCurrency(f+".currency_code", c.Currency); err != nil {
		return err
	}
	if c.Key.Kind.Inventory() {
		if c.Ride != nil {
			return errs.Invalid(f+".ride", "a %s card is priced with inventory, not ride", c.Key.Kind)
		}
		if c.Inventory == nil {
			return errs.Invalid(f+".inventory", "is required for a %s card", c.Key.Kind)
		}
		if err := normalizeMoney(f+".inventory.unit_price", &c.Inventory.UnitPrice, c.Currency); err != nil {
			return err
		}
	} else {
		if c.Inventory != nil {
			return errs.Invalid(f+".inventory", "a ride card is priced with ride, not inventory")
		}
		if c.Ride == nil {
			return errs.Invalid(f+".ride", "is required for a ride card")
		}
		r := c.Ride
		for _, m := range []struct {
			name string
			m    *money.Money
		}{{"base_fare", &r.BaseFare}, {"per_kilometer", &r.PerKilometer}, {"per_minute", &r.PerMinute}, {"minimum_fare", &r.MinimumFare}} {
			if err := normalizeMoney(f+".ride."+m.name, m.m, c.Currency); err != nil {
				return err
			}
		}
	}
	if err := validateDynamic(f+".dynamic_pricing", c.Dynamic, c.Key.Kind); err != nil {
		return err
	}
	// Stored with microsecond precision: what is returned now must equal what is read later.
	c.EffectiveTime = c.EffectiveTime.UTC().Truncate(time.Microsecond)
	switch {
	case c.EffectiveTime.IsZero():
		c.EffectiveTime = now
	case c.EffectiveTime.Before(now.Add(-EffectiveTimeSkew)):
		return errs.Invalid(f+".effective_time", "must not be in the past")
	case c.EffectiveTime.Before(now):
		c.EffectiveTime = now
	case c.EffectiveTime.After(now.Add(MaxEffectiveAhead)):
		return errs.Invalid(f+".effective_time", "must be at most 5 years ahead")
	}
	if n := utf8.RuneCountInString(c.Description); n > MaxDescriptionLength {
		return errs.Invalid(f+".description", "at most %d characters, got %d", MaxDescriptionLength, n)
	}
	if !utf8.ValidString(c.Description) {
		return errs.Invalid(f+".description", "must be valid UTF-8")
	}
	return nil
}

// validateDynamic checks dynamic pricing bounds and the load-factor curve.
func validateDynamic(f string, d *DynamicPricing, kind ProductKind) error {
	if d == nil {
		return nil
	}
	if m := d.MinMultiplierBps; m != 0 && (m < 1000 || m > OneX) {
		return errs.Invalid(f+".min_multiplier_bps", "must be 0 or from 1000 to 10000, got %d", m)
	}
	if m := d.MaxMultiplierBps; m != 0 && (m < OneX || m > 100000) {
		return errs.Invalid(f+".max_multiplier_bps", "must be 0 or from 10000 to 100000, got %d", m)
	}
	if len(d.Tiers) > 0 && kind == KindRide {
		return errs.Invalid(f+".load_factor_tiers", "must be empty on a ride card")
	}
	if len(d.Tiers) > MaxTiers {
		return errs.Invalid(f+".load_factor_tiers", "at most %d tiers, got %d", MaxTiers, len(d.Tiers))
	}
	seen := make(map[int32]bool, len(d.Tiers))
	for i, t := range d.Tiers {
		tf := f + ".load_factor_tiers[" + strconv.Itoa(i) + "]"
		if t.ThresholdBps < 0 || t.ThresholdBps > OneX {
			return errs.Invalid(tf+".threshold_bps", "must be from 0 to 10000, got %d", t.ThresholdBps)
		}
		if t.MultiplierBps < 1 || t.MultiplierBps > 100000 {
			return errs.Invalid(tf+".multiplier_bps", "must be from 1 to 100000, got %d", t.MultiplierBps)
		}
		if seen[t.ThresholdBps] {
			return errs.Invalid(tf+".threshold_bps", "threshold %d appears twice", t.ThresholdBps)
		}
		seen[t.ThresholdBps] = true
	}
	return nil
}

// The paths UpdateRateCard accepts in its update mask.
const (
	PathInventory      = "inventory"
	PathRide           = "ride"
	PathDynamicPricing = "dynamic_pricing"
	PathEffectiveTime  = "effective_time"
	PathDescription    = "description"
)

var updatablePaths = []string{PathInventory, PathRide, PathDynamicPricing, PathEffectiveTime, PathDescription}

// ValidateUpdateMask checks an update mask's paths (field "update_mask").
func ValidateUpdateMask(paths []string) error {
	if len(paths) == 0 {
		return errs.Invalid("update_mask", "is required: name the fields to change, among %s", strings.Join(updatablePaths, ", "))
	}
	for _, p := range paths {
		if !slices.Contains(updatablePaths, p) {
			if p == "product_key" || p == "currency_code" {
				return errs.Invalid("update_mask", "%q is immutable", p)
			}
			return errs.Invalid("update_mask", "path %q cannot be updated; allowed: %s", p, strings.Join(updatablePaths, ", "))
		}
	}
	return nil
}

// MergeUpdate returns the next version of latest: latest with the fields named in paths
// taken from patch, validated and normalized as by NormalizeRateCard. When the mask does
// not name effective_time, the new version takes effect now, or at latest's effective
// time when that is still ahead (an edit of a scheduled version stays scheduled).
func MergeUpdate(latest, patch RateCard, paths []string, author string, now time.Time) (RateCard, error) {
	next := latest
	next.Inventory, next.Ride, next.Dynamic = cloneInventory(latest.Inventory), cloneRide(latest.Ride), cloneDynamic(latest.Dynamic)
	next.EffectiveTime = time.Time{}
	if latest.EffectiveTime.After(now) {
		next.EffectiveTime = latest.EffectiveTime
	}
	for _, p := range paths {
		switch p {
		case PathInventory:
			next.Inventory = cloneInventory(patch.Inventory)
			if next.Inventory == nil {
				return RateCard{}, errs.Invalid("rate_card.inventory", "is required when update_mask names it")
			}
		case PathRide:
			next.Ride = cloneRide(patch.Ride)
			if next.Ride == nil {
				return RateCard{}, errs.Invalid("rate_card.ride", "is required when update_mask names it")
			}
		case PathDynamicPricing:
			next.Dynamic = cloneDynamic(patch.Dynamic)
		case PathEffectiveTime:
			next.EffectiveTime = patch.EffectiveTime
		case PathDescription:
			next.Description = patch.Description
		}
	}
	if err := NormalizeRateCard(&next, now); err != nil {
		return RateCard{}, err
	}
	next.Author = author
	next.UpdateTime = now
	next.Version = latest.Version + 1
	return next, nil
}

func cloneInventory(p *InventoryPricing) *InventoryPricing {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func cloneRide(p *RidePricing) *RidePricing {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func cloneDynamic(p *DynamicPricing) *DynamicPricing {
	if p == nil {
		return nil
	}
	c := *p
	c.Tiers = slices.Clone(p.Tiers)
	return &c
}
