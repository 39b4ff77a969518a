package billing

import (
	"unicode/utf8"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
)

// Input limits.
const (
	// MaxSubStatus is the longest sub-status, in characters.
	MaxSubStatus = 64
	// MaxCancelReason is the longest cancel reason, in characters.
	MaxCancelReason = 500
	// MaxIDLength is the longest customer or reservation id billing accepts.
	MaxIDLength = 128
	// DefaultPageSize is ListBills' page size when the request gives none.
	DefaultPageSize = 50
	// MaxPageSize is the largest page ListBills returns.
	MaxPageSize = 500
)

// validateID checks a required opaque id (customer or reservation id): 1 to MaxIDLength
// printable ASCII characters.
func validateID(field, v string) error {
	if v == "" {
		return errs.Invalid(field, "is required")
	}
	if len(v) > MaxIDLength || !printableASCII(v) {
		return errs.Invalid(field, "must be 1 to %d printable ASCII characters", MaxIDLength)
	}
	return nil
}

// validateText checks a free-form text of at most n characters.
func validateText(field, v string, n int) error {
	if !utf8.ValidString(v) {
		return errs.Invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(v) > n {
		return errs.Invalid(field, "must be at most %d characters", n)
	}
	return nil
}

// validateVersion checks an expected version: 0 (any) or a version.
func validateVersion(v int64) error {
	if v < 0 {
		return errs.Invalid("expected_version", "must not be negative")
	}
	return nil
}

func printableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewID returns a random (version 4) UUID.
func NewID() string { return ids.New() }
