package account

import "strings"

// Mask hides most of a contact address for lists: an email address keeps the first
// character of its local part and its domain ("a***@example.com"); a phone number keeps
// "+", its first two and last two digits ("+49*********78" for "+4915112345678").
func Mask(address string) string {
	if at := strings.LastIndexByte(address, '@'); at >= 0 {
		local := address[:at]
		if local == "" {
			return "***" + address[at:]
		}
		return local[:1] + "***" + address[at:]
	}
	if len(address) <= 5 {
		return strings.Repeat("*", len(address))
	}
	return address[:3] + strings.Repeat("*", len(address)-5) + address[len(address)-2:]
}
