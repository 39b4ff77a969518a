// Package city is Waybill's one rule for city codes, the key that ties a ride's
// pricing (fare's rate cards and surge zones), its drivers (matching) and its trips
// together: every service must accept and refuse the same codes.
package city

import "github.com/waybill/waybill/kit/errs"

// MaxLength is the longest city code, in bytes.
const MaxLength = 64

// Valid reports whether code is a city code: 1 to MaxLength lower-case ASCII letters,
// digits, '-' or '_', like "berlin" or "new-york".
func Valid(code string) bool {
	if code == "" || len(code) > MaxLength {
		return false
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Check returns an InvalidArgument error naming field unless code is a city code.
func Check(field, code string) error {
	switch {
	case code == "":
		return errs.Invalid(field, "is required")
	case len(code) > MaxLength:
		return errs.Invalid(field, "must be at most %d characters", MaxLength)
	case !Valid(code):
		return errs.Invalid(field, "must be lower-case letters, digits, '-' or '_', like \"berlin\"")
	}
	return nil
}
