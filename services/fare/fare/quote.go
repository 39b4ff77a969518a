package fare

import (
	"time"

	"github.com/waybill/waybill/kit/errs"
)

// Validity of quotes: how long the fare service stands by a quoted price.
const (
	// InventoryQuoteValidity is the validity of a seat or stay quote.
	InventoryQuoteValidity = 15 * time.Minute
	// RideQuoteValidity is the validity of a ride quote.
	RideQuoteValidity = 5 * time.Minute
)

// Occupancy is how much of an inventory is used: Used units (sold plus held) of Capacity.
type Occupancy struct {
	// Used is 0 to Capacity.
	Used int32
	// Capacity is 1 or more.
	Capacity int32
}

// InventoryQuoteInput asks for the price of seats or a stay.
type InventoryQuoteInput struct {
	// Key is a seat or stay product.
	Key ProductKey
	// Quantity is the number of seats or rooms, 1 to MaxQuantity.
	Quantity int32
	// CheckIn and CheckOut are a stay's dates (nil for seats); CheckOut is exclusive.
	CheckIn, CheckOut *Date
	// Exactly one of LoadFactorBps and Occupancy says how full the inventory is.
	LoadFactorBps *int32
	Occupancy     *Occupancy
}

// Validate checks the input and returns the number of nights (1 for seats) and the load
// factor in basis points. A check-in date more than one day before now's UTC date is in
// the past everywhere on Earth and fails; so does a check-out date not after check-in,
// or more than MaxNights after it.
func (in InventoryQuoteInput) Validate(now time.Time) (nights, loadBps int32, err error) {
	if err := ValidateProductKey("product_key", in.Key); err != nil {
		return 0, 0, err
	}
	if !in.Key.Kind.Inventory() {
		return 0, 0, errs.Invalid("product_key", "a ride product is quoted with QuoteRide; QuoteInventory needs a seat or stay product")
	}
	if in.Quantity < 1 || in.Quantity > MaxQuantity {
		return 0, 0, errs.Invalid("quantity", "must be from 1 to %d, got %d", MaxQuantity, in.Quantity)
	}
	nights = 1
	if in.Key.Kind == KindSeat {
		if in.CheckIn != nil {
			return 0, 0, errs.Invalid("check_in_date", "must be unset for a seat product")
		}
		if in.CheckOut != nil {
			return 0, 0, errs.Invalid("check_out_date", "must be unset for a seat product")
		}
	} else {
		if in.CheckIn == nil {
			return 0, 0, errs.Invalid("check_in_date", "is required for a stay product")
		}
		if !in.CheckIn.Valid() {
			return 0, 0, errs.Invalid("check_in_date", "%s is not a calendar date", in.CheckIn)
		}
		if in.CheckOut == nil {
			return 0, 0, errs.Invalid("check_out_date", "is required for a stay product")
		}
		if !in.CheckOut.Valid() {
			return 0, 0, errs.Invalid("check_out_date", "%s is not a calendar date", in.CheckOut)
		}
		today := now.UTC()
		earliest := time.Date(today.Year(), today.Month(), today.Day()-1, 0, 0, 0, 0, time.UTC)
		if in.CheckIn.Time().Before(earliest) {
			return 0, 0, errs.Invalid("check_in_date", "%s is in the past", in.CheckIn)
		}
		if in.CheckIn.Time().After(earliest.AddDate(0, 0, MaxAdvanceDays+1)) {
			return 0, 0, errs.Invalid("check_in_date", "must be at most %d days ahead", MaxAdvanceDays)
		}
		days := in.CheckOut.Time().Sub(in.CheckIn.Time()) / (24 * time.Hour)
		if days < 1 || days > MaxNights {
			return 0, 0, errs.Invalid("check_out_date", "must be 1 to %d nights after check_in_date", MaxNights)
		}
		nights = int32(days)
	}
	switch {
	case in.LoadFactorBps != nil && in.Occupancy != nil:
		return 0, 0, errs.Invalid("load_factor_bps", "set load_factor_bps or occupancy, not both")
	case in.LoadFactorBps != nil:
		loadBps = *in.LoadFactorBps
		if loadBps < 0 || loadBps > OneX {
			return 0, 0, errs.Invalid("load_factor_bps", "must be from 0 to 10000, got %d", loadBps)
		}
	case in.Occupancy != nil:
		o := in.Occupancy
		if o.Capacity < 1 {
			return 0, 0, errs.Invalid("occupancy.capacity", "must be 1 or more, got %d", o.Capacity)
		}
		if o.Used < 0 || o.Used > o.Capacity {
			return 0, 0, errs.Invalid("occupancy.used", "must be from 0 to capacity %d, got %d", o.Capacity, o.Used)
		}
		loadBps = LoadFactorBps(o.Used, o.Capacity)
	default:
		return 0, 0, errs.Invalid("load_factor_bps", "is required: set load_factor_bps or occupancy")
	}
	return nights, loadBps, nil
}

// BuildInventoryQuote prices in (already validated, with nights and loadBps from
// Validate) from card at now. It is a pure function: the same inputs give the same quote.
func BuildInventoryQuote(card RateCard, in InventoryQuoteInput, nights, loadBps int32, now time.Time) Quote {
	p := PriceInventory(card, in.Quantity, nights, loadBps)
	q := Quote{
		Key:           in.Key,
		RateCardID:    card.ID,
		RateVersion:   card.Version,
		Currency:      card.Currency,
		Quantity:      in.Quantity,
		Nights:        nights,
		UnitPrice:     p.UnitPrice,
		HasUnitPrice:  true,
		Price:         p.Total,
		MultiplierBps: p.MultiplierBps,
		LoadFactorBps: loadBps,
		Lines:         p.Lines,
		CreateTime:    now,
		ValidUntil:    now.Add(InventoryQuoteValidity),
	}
	if in.CheckIn != nil {
		q.CheckIn, q.CheckOut = *in.CheckIn, *in.CheckOut
	}
	return q
}
