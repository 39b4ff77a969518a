package booking

import (
	"fmt"
	"time"
)

// Money is an amount in integer minor units of one ISO 4217 currency.
type Money struct {
	// Amount is in the currency's minor units.
	Amount int64
	// Currency is the upper-case three-letter ISO 4217 code.
	Currency string
}

// IsZero reports whether m is the zero value (no amount and no currency).
func (m Money) IsZero() bool { return m == Money{} }

// String formats m for logs and messages, for example "12.34 EUR" as "1234 EUR".
func (m Money) String() string { return fmt.Sprintf("%d %s", m.Amount, m.Currency) }

// ValidCurrency reports whether c looks like an ISO 4217 code: three upper-case letters.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// Date is a calendar date without a time zone.
type Date struct {
	// Year is from 1 to 9999.
	Year int
	// Month is from 1 to 12.
	Month time.Month
	// Day is from 1 to 31.
	Day int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// Valid reports whether d is a real calendar date between years 1 and 9999.
func (d Date) Valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return DateOf(d.In(time.UTC, 0)) == d
}

// In returns the moment at hour o'clock on d in loc.
func (d Date) In(loc *time.Location, hour int) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hour, 0, 0, 0, loc)
}

// AddDays returns the date n days after d (before it for negative n).
func (d Date) AddDays(n int) Date { return DateOf(d.In(time.UTC, 12).AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.In(time.UTC, 0).Before(e.In(time.UTC, 0)) }

// DaysUntil returns the number of days from d to e (negative when e is earlier).
func (d Date) DaysUntil(e Date) int {
	return int(e.In(time.UTC, 12).Sub(d.In(time.UTC, 12)).Round(time.Hour) / (24 * time.Hour))
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }
