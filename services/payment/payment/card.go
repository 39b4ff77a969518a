package payment

import (
	"log/slog"
	"time"

	"github.com/waybill/waybill/kit/errs"
)

// Card is raw card data, accepted only to be handed to Processor.Tokenize. It is never stored,
// and its String, GoString and LogValue methods print nothing of it, so that it cannot reach a
// log by accident.
type Card struct {
	// Number is the card number (PAN): 12 to 19 digits passing the Luhn check.
	Number string
	// ExpiryMonth is from 1 to 12.
	ExpiryMonth int
	// ExpiryYear has four digits.
	ExpiryYear int
	// CVC is the 3 or 4 digit security code.
	CVC string
	// HolderName is the cardholder's name, at most 100 characters; optional.
	HolderName string
}

// String hides the card data.
func (Card) String() string { return "Card{redacted}" }

// GoString hides the card data from %#v.
func (Card) GoString() string { return "payment.Card{redacted}" }

// LogValue hides the card data from log/slog.
func (Card) LogValue() slog.Value { return slog.StringValue("redacted") }

// MaxCardYears is how many years ahead a card's expiry year may lie: issuers print at most
// about ten, so a later year is a typing mistake.
const MaxCardYears = 20

// validate checks the card's fields against their rules, naming the field under prefix
// ("card") and never echoing a value.
func (c Card) validate(prefix string, now time.Time) error {
	n := len(c.Number)
	if n == 0 {
		return errs.Invalid(prefix+".number", "the card number is required")
	}
	if n < 12 || n > 19 || !allDigits(c.Number) {
		return errs.Invalid(prefix+".number", "the card number must be 12 to 19 digits without spaces")
	}
	if !luhn(c.Number) {
		return errs.Invalid(prefix+".number", "the card number fails the Luhn check")
	}
	if c.ExpiryMonth < 1 || c.ExpiryMonth > 12 {
		return errs.Invalid(prefix+".expiry_month", "the expiry month must be from 1 to 12")
	}
	if c.ExpiryYear < 1000 || c.ExpiryYear > 9999 {
		return errs.Invalid(prefix+".expiry_year", "the expiry year must have four digits")
	}
	if c.ExpiryYear > now.Year()+MaxCardYears {
		return errs.Invalid(prefix+".expiry_year", "the expiry year must be at most %d years ahead", MaxCardYears)
	}
	if expired(c.ExpiryYear, c.ExpiryMonth, now) {
		return errs.Invalid(prefix+".expiry_year", "the card has expired")
	}
	if l := len(c.CVC); (l != 3 && l != 4) || !allDigits(c.CVC) {
		return errs.Invalid(prefix+".cvc", "the security code must be 3 or 4 digits")
	}
	if len([]rune(c.HolderName)) > 100 {
		return errs.Invalid(prefix+".cardholder_name", "the cardholder name must be at most 100 characters")
	}
	return nil
}

// expired reports whether a card valid through the end of month/year has expired at now.
func expired(year, month int, now time.Time) bool {
	end := time.Date(year, time.Month(month)+1, 1, 0, 0, 0, 0, time.UTC)
	return !now.Before(end)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// luhn reports whether the digit string passes the Luhn check.
func luhn(number string) bool {
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Luhn reports whether number, a string of digits, passes the Luhn check; adapters use it.
func Luhn(number string) bool { return allDigits(number) && luhn(number) }
