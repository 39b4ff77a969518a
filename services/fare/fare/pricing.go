package fare

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/waybill/waybill/kit/money"
)

// OneX is the multiplier 1.0x in basis points.
const OneX = 10000

// MulBps returns amount × bps / 10000 rounded half away from zero to a whole minor unit.
// Callers keep |amount × bps| inside int64: amounts on a rate card are at most
// money.MaxAmount (100 million in a currency with two decimals), and with quantities up
// to 100, stays up to 30 nights, distances up to 1,000 km, durations up to a day and
// multipliers up to 10x, every intermediate product of the pricing math stays far inside
// int64.
func MulBps(amount int64, bps int32) int64 {
	return divRound(amount*int64(bps), OneX)
}

// divRound returns n / d rounded half away from zero; d must be positive.
func divRound(n, d int64) int64 {
	if n < 0 {
		return -((-n + d/2) / d)
	}
	return (n + d/2) / d
}

// LoadFactorBps returns the load factor of used units out of capacity in basis points,
// rounded down. Callers ensure 0 ≤ used ≤ capacity and capacity ≥ 1.
func LoadFactorBps(used, capacity int32) int32 {
	return int32(int64(used) * OneX / int64(capacity))
}

// CurveMultiplier returns the raw multiplier of the load-factor curve at loadBps: that of
// the tier with the highest threshold at or below loadBps, or 10000 when no tier applies.
func CurveMultiplier(tiers []LoadFactorTier, loadBps int32) int32 {
	best, mult := int32(-1), int32(OneX)
	for _, t := range tiers {
		if t.ThresholdBps <= loadBps && t.ThresholdBps > best {
			best, mult = t.ThresholdBps, t.MultiplierBps
		}
	}
	return mult
}

// Clamp returns m limited to the card's bounds (see DynamicPricing.Bounds).
func Clamp(d *DynamicPricing, m int32) int32 {
	lo, hi := d.Bounds()
	return min(max(m, lo), hi)
}

// InventoryMultiplier returns the multiplier a seat or stay card applies at loadBps: the
// curve's multiplier clamped to the card's bounds, or 10000 without dynamic pricing.
func InventoryMultiplier(d *DynamicPricing, loadBps int32) int32 {
	if d == nil {
		return OneX
	}
	return Clamp(d, CurveMultiplier(d.Tiers, loadBps))
}

// InventoryPrice is the result of pricing seats or a stay.
type InventoryPrice struct {
	// MultiplierBps is the clamped multiplier applied.
	MultiplierBps int32
	// UnitPrice is the price of one unit (seat or room-night) after the multiplier.
	UnitPrice int64
	// Total is UnitPrice × quantity × nights, the sum of Lines.
	Total int64
	// Lines are "base" (the undiscounted unit price × quantity × nights) and, when the
	// multiplier is not 1.0x, "load_factor" (the difference the multiplier makes).
	Lines []PriceLine
}

// PriceInventory prices quantity units for nights nights (1 for seats) from an
// inventory card at loadBps. The unit price is rounded once, half away from zero, and
// then multiplied by quantity and nights, so the total is always a whole multiple of
// the unit price that the quote shows.
func PriceInventory(card RateCard, quantity, nights, loadBps int32) InventoryPrice {
	base := card.Inventory.UnitPrice.Amount
	mult := InventoryMultiplier(card.Dynamic, loadBps)
	unit := MulBps(base, mult)
	units := int64(quantity) * int64(nights)
	p := InventoryPrice{MultiplierBps: mult, UnitPrice: unit, Total: unit * units}
	desc := fmt.Sprintf("%d × %s", quantity, money.Format(base, card.Currency))
	if card.Key.Kind == KindStay {
		desc += fmt.Sprintf(" × %d night%s", nights, plural(nights))
	}
	p.Lines = append(p.Lines, PriceLine{Code: "base", Description: desc, Amount: base * units})
	if mult != OneX {
		p.Lines = append(p.Lines, PriceLine{
			Code:        "load_factor",
			Description: fmt.Sprintf("%s at %s load", FormatBps(mult), FormatPercentBps(loadBps)),
			Amount:      (unit - base) * units,
		})
	}
	return p
}

// RidePrice is the result of pricing a ride.
type RidePrice struct {
	// MultiplierBps is the clamped surge multiplier applied.
	MultiplierBps int32
	// Total is the price, never below the card's minimum fare; the sum of Lines.
	Total int64
	// Lines are "base_fare", "distance", "time", then "surge" when the multiplier changes
	// the price and "minimum_fare" when the minimum tops it up.
	Lines []PriceLine
}

// PriceRide prices a ride of meters and seconds from a ride card at the raw surge
// multiplier surgeBps (clamped here to the card's bounds). The distance charge is
// per-kilometre × meters / 1000 and the time charge per-minute × seconds / 60, each
// rounded half away from zero; their sum with the base fare is multiplied by the surge
// (rounded half away from zero) and topped up to the minimum fare.
func PriceRide(card RateCard, meters, seconds int64, surgeBps int32) RidePrice {
	r := card.Ride
	cur := card.Currency
	mult := Clamp(card.Dynamic, surgeBps)
	distance := divRound(r.PerKilometer.Amount*meters, 1000)
	duration := divRound(r.PerMinute.Amount*seconds, 60)
	subtotal := r.BaseFare.Amount + distance + duration
	surged := MulBps(subtotal, mult)
	p := RidePrice{MultiplierBps: mult}
	p.Lines = []PriceLine{
		{Code: "base_fare", Description: "base fare", Amount: r.BaseFare.Amount},
		{Code: "distance", Description: fmt.Sprintf("%s km at %s/km", formatDecimal(meters, 3), money.Format(r.PerKilometer.Amount, cur)), Amount: distance},
		{Code: "time", Description: fmt.Sprintf("%s min at %s/min", formatDecimalRounded(seconds, 60), money.Format(r.PerMinute.Amount, cur)), Amount: duration},
	}
	if surged != subtotal {
		p.Lines = append(p.Lines, PriceLine{Code: "surge", Description: "surge " + FormatBps(mult), Amount: surged - subtotal})
	}
	p.Total = surged
	if minimum := r.MinimumFare.Amount; surged < minimum {
		p.Lines = append(p.Lines, PriceLine{Code: "minimum_fare", Description: "minimum fare " + money.Format(minimum, cur), Amount: minimum - surged})
		p.Total = minimum
	}
	return p
}

// FormatBps formats a multiplier, "1.25x".
func FormatBps(bps int32) string {
	s := formatDecimal(int64(bps), 4)
	for len(s) > 3 && s[len(s)-1] == '0' && s[len(s)-2] != '.' {
		s = s[:len(s)-1]
	}
	return s + "x"
}

// FormatPercentBps formats a load factor in basis points as a percentage, "85.5%".
func FormatPercentBps(bps int32) string {
	s := formatDecimal(int64(bps), 2)
	s = trimZeros(s)
	return s + "%"
}

// formatDecimal formats n / 10^digits with exactly digits decimals.
func formatDecimal(n int64, digits int) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	if digits > 0 {
		for len(s) <= digits {
			s = "0" + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// formatDecimalRounded formats n / d with one decimal, rounded half away from zero.
func formatDecimalRounded(n, d int64) string {
	return trimZeros(formatDecimal(divRound(n*10, d), 1))
}

// trimZeros drops trailing zeros after a decimal point, and the point itself.
func trimZeros(s string) string {
	for len(s) > 0 && s[len(s)-1] == '0' && strings.Contains(s, ".") {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func plural(n int32) string {
	if n == 1 {
		return ""
	}
	return "s"
}
