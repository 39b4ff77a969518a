package fare

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/money"
)

// ProductKind is the kind of product a rate card prices.
type ProductKind int

// The product kinds. KindUnspecified means "any kind" in a filter and is invalid on a key.
const (
	KindUnspecified ProductKind = iota
	KindSeat
	KindStay
	KindRide
)

// String returns the kind's lower-case name, as stored and shown in messages.
func (k ProductKind) String() string {
	switch k {
	case KindSeat:
		return "seat"
	case KindStay:
		return "stay"
	case KindRide:
		return "ride"
	}
	return "unspecified"
}

// Inventory reports whether the kind is priced per unit (seats and stays).
func (k ProductKind) Inventory() bool { return k == KindSeat || k == KindStay }

// SeatProduct is a fare class on a route, optionally narrowed to one departure.
type SeatProduct struct {
	// Carrier, Origin, Destination and FareClass name the route's fare class.
	Carrier, Origin, Destination, FareClass string
	// DepartureID narrows the product to one departure; empty for a route-wide card.
	DepartureID string
}

// StayProduct is a room type at a property.
type StayProduct struct {
	// PropertyID is the booking service's property id.
	PropertyID string
	// RoomType is the room type's name.
	RoomType string
}

// RideProduct is a ride product in a city.
type RideProduct struct {
	// City is the city code, for example "berlin".
	City string
	// Product is the ride product, for example "standard".
	Product string
}

// ProductKey identifies what a rate card prices; at most one card exists per key. Kind
// says which of Seat, Stay and Ride is set.
type ProductKey struct {
	// Kind says which product field is meaningful.
	Kind ProductKind
	// Seat is set for KindSeat.
	Seat SeatProduct
	// Stay is set for KindStay.
	Stay StayProduct
	// Ride is set for KindRide.
	Ride RideProduct
}

// Canonical returns the key's unique, unambiguous text form: a JSON array of the kind
// and its fields. Storage uses it as the unique key of a card, and ParseProductKey reads
// it back.
func (k ProductKey) Canonical() string {
	var parts []string
	switch k.Kind {
	case KindSeat:
		s := k.Seat
		parts = []string{"seat", s.Carrier, s.Origin, s.Destination, s.FareClass, s.DepartureID}
	case KindStay:
		parts = []string{"stay", k.Stay.PropertyID, k.Stay.RoomType}
	case KindRide:
		parts = []string{"ride", k.Ride.City, k.Ride.Product}
	default:
		parts = []string{"unspecified"}
	}
	b, _ := json.Marshal(parts) // a []string always marshals
	return string(b)
}

// ParseProductKey reads a key written by Canonical.
func ParseProductKey(s string) (ProductKey, error) {
	var parts []string
	if err := json.Unmarshal([]byte(s), &parts); err != nil || len(parts) == 0 {
		return ProductKey{}, fmt.Errorf("parse product key %q: not a canonical key", s)
	}
	switch {
	case parts[0] == "seat" && len(parts) == 6:
		return ProductKey{Kind: KindSeat, Seat: SeatProduct{
			Carrier: parts[1], Origin: parts[2], Destination: parts[3], FareClass: parts[4], DepartureID: parts[5],
		}}, nil
	case parts[0] == "stay" && len(parts) == 3:
		return ProductKey{Kind: KindStay, Stay: StayProduct{PropertyID: parts[1], RoomType: parts[2]}}, nil
	case parts[0] == "ride" && len(parts) == 3:
		return ProductKey{Kind: KindRide, Ride: RideProduct{City: parts[1], Product: parts[2]}}, nil
	}
	return ProductKey{}, fmt.Errorf("parse product key %q: unknown form", s)
}

// RouteKey returns, for a seat key narrowed to a departure, the route-wide key it falls
// back to; ok is false for any other key.
func (k ProductKey) RouteKey() (route ProductKey, ok bool) {
	if k.Kind != KindSeat || k.Seat.DepartureID == "" {
		return ProductKey{}, false
	}
	route = k
	route.Seat.DepartureID = ""
	return route, true
}

// InventoryPricing prices seats and stays: the price of one seat, or one room for one
// night, before the dynamic multiplier. On a rate card every amount is in the card's
// currency; an empty Currency on input means the card's.
type InventoryPricing struct {
	// UnitPrice is the price of one unit.
	UnitPrice money.Money
}

// RidePricing prices rides: BaseFare + PerKilometer × km + PerMinute × minutes, times the
// surge, never below MinimumFare. Amounts are in the card's currency, as in
// InventoryPricing.
type RidePricing struct {
	// BaseFare is the fixed charge of every ride.
	BaseFare money.Money
	// PerKilometer is the charge per 1000 meters.
	PerKilometer money.Money
	// PerMinute is the charge per 60 seconds.
	PerMinute money.Money
	// MinimumFare is the lowest price of a ride, after surge.
	MinimumFare money.Money
}

// LoadFactorTier is one step of a load-factor curve.
type LoadFactorTier struct {
	// ThresholdBps is the load factor from which the tier applies, 0 to 10000.
	ThresholdBps int32 `json:"threshold_bps"`
	// MultiplierBps is the tier's multiplier, 1 to 100000.
	MultiplierBps int32 `json:"multiplier_bps"`
}

// DynamicPricing bounds the multiplier applied to base prices and, for inventory, holds
// the load-factor curve. A zero bound means 10000 (1.0x).
type DynamicPricing struct {
	// MinMultiplierBps is the lowest multiplier (0 means 10000).
	MinMultiplierBps int32
	// MaxMultiplierBps is the highest multiplier (0 means 10000).
	MaxMultiplierBps int32
	// Tiers is the load-factor curve, in the order given.
	Tiers []LoadFactorTier
}

// Bounds returns the effective [min, max] multiplier, with zero bounds read as 10000.
func (d *DynamicPricing) Bounds() (lo, hi int32) {
	lo, hi = OneX, OneX
	if d == nil {
		return lo, hi
	}
	if d.MinMultiplierBps != 0 {
		lo = d.MinMultiplierBps
	}
	if d.MaxMultiplierBps != 0 {
		hi = d.MaxMultiplierBps
	}
	return lo, hi
}

// RateCard is one version of the price list of one product. Versions are immutable.
type RateCard struct {
	// ID is the card's id, shared by all its versions.
	ID string
	// Key is what the card prices; immutable.
	Key ProductKey
	// Currency is the ISO 4217 code of every amount on the card; immutable.
	Currency string
	// Inventory is set on seat and stay cards.
	Inventory *InventoryPricing
	// Ride is set on ride cards.
	Ride *RidePricing
	// Dynamic is nil when the card has no dynamic pricing (always 1.0x).
	Dynamic *DynamicPricing
	// EffectiveTime is when this version takes effect.
	EffectiveTime time.Time
	// Description is an operator's note about this version.
	Description string
	// Author is the subject of the caller who wrote this version.
	Author string
	// CreateTime is when version 1 was created.
	CreateTime time.Time
	// UpdateTime is when this version was created.
	UpdateTime time.Time
	// Version is 1 on create and one more on every update.
	Version int64
}

// RateCardPage is one page of rate cards.
type RateCardPage struct {
	// Cards are the page's cards.
	Cards []RateCard
	// NextPageToken asks for the next page (kit/page); empty on the last page.
	NextPageToken string
}

// Date is a calendar date without a time zone.
type Date struct {
	// Year, Month and Day as on a calendar.
	Year, Month, Day int
}

// Time returns the date's midnight in UTC, for day arithmetic.
func (d Date) Time() time.Time {
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
}

// Valid reports whether the date exists on the calendar (years 1 to 9999).
func (d Date) Valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		return false
	}
	t := d.Time()
	return t.Day() == d.Day && int(t.Month()) == d.Month
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// PriceLine is one component of a price; lines add up to the total.
type PriceLine struct {
	// Code is a stable machine code: "base", "load_factor", "base_fare", "distance",
	// "time", "surge" or "minimum_fare".
	Code string `json:"code"`
	// Description is a human-readable label.
	Description string `json:"description"`
	// Amount is in minor units of the quote's currency; it may be negative.
	Amount int64 `json:"amount"`
}

// Quote is a stored, immutable price computed from one rate card version.
type Quote struct {
	// ID is assigned by the store.
	ID string
	// Key is the product as requested.
	Key ProductKey
	// RateCardID and RateVersion name the rate card version used.
	RateCardID  string
	RateVersion int64
	// Currency is the rate card's currency.
	Currency string
	// Quantity is the number of seats, rooms or rides; Nights is 1 except for stays.
	Quantity, Nights int32
	// CheckIn and CheckOut are the dates of a stay; zero otherwise.
	CheckIn, CheckOut Date
	// UnitPrice is the price of one seat or room-night after the multiplier; HasUnitPrice
	// is false for rides.
	UnitPrice    int64
	HasUnitPrice bool
	// Price is the total, equal to the sum of Lines.
	Price int64
	// MultiplierBps is the multiplier applied after clamping.
	MultiplierBps int32
	// LoadFactorBps is the load factor used; 0 for rides.
	LoadFactorBps int32
	// SurgeZone is the zone whose surge a ride used; empty otherwise.
	SurgeZone string
	// DistanceMeters and DurationSeconds are a ride's estimates; 0 for inventory.
	DistanceMeters, DurationSeconds int64
	// Lines is how Price is made up, in display order.
	Lines []PriceLine
	// CreateTime is when the quote was computed; ValidUntil is until when it holds.
	CreateTime, ValidUntil time.Time
	// SurgeExpire is when a ride's surge stops applying to new quotes; zero when it has
	// no end (or for inventory). Not stored: only the quote's answer shows it.
	SurgeExpire time.Time
}
