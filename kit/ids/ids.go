// Package ids checks the identifiers Waybill's services mint: UUIDs in their canonical
// 36-character text form. A malformed id can never name a stored resource, so services
// answer it as not found (or invalid, where the contract says so) without a query.
package ids

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
