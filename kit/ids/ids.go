// Package ids mints and checks the identifiers Waybill's services mint: UUIDs in their canonical
// 36-character text form. A malformed id can never name a stored resource, so services
// answer it as not found (or invalid, where the contract says so) without a query.
package ids

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/waybill/waybill/kit/errs"
)

// ValidUUID reports whether s is a UUID in canonical form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits of either case).
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// New returns a random (version 4) UUID in canonical form.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Check checks a required id of a request, named field (the API's snake_case path):
// empty, or anything but a UUID, is the caller's mistake, INVALID_ARGUMENT naming field
// (services mint only UUIDs, so a malformed id cannot name anything).
func Check(field, id string) error {
	var v errs.Violations
	CheckTo(&v, field, id)
	return v.Err()
}

// CheckTo records Check's violation of field, if any, in v.
func CheckTo(v *errs.Violations, field, id string) {
	switch {
	case id == "":
		v.Add(field, "is required")
	case !ValidUUID(id):
		v.Add(field, "must be a UUID")
	}
}
