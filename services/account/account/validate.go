package account

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked against the IANA database on every machine
	"unicode"
	"unicode/utf8"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
)

// Limits of the API (see account.proto and service.proto), checked by the validators
// below.
const (
	// MaxIDLength is the longest account id.
	MaxIDLength = 128
	// MaxDisplayNameLength is the longest display name, in characters.
	MaxDisplayNameLength = 200
	// MaxEmailLength is the longest email address (RFC 5321's path limit).
	MaxEmailLength = 254
	// MaxSubStatusLength is the longest sub-status.
	MaxSubStatusLength = 64
	// MaxReasonLength is the longest suspension or reinstatement reason, in characters.
	MaxReasonLength = 500
	// MaxRequestIDLength is the contract's bound on request ids, tighter than the kit's.
	MaxRequestIDLength = 64
	// CodeDigits is the length of a one-time code.
	CodeDigits = 6
)

// checkRequestID checks an idempotency key: the kit's rule, within the contract's 64
// characters.
func checkRequestID(id string) error {
	if err := idempotency.CheckRequestID(id, false); err != nil {
		return err
	}
	if len(id) > MaxRequestIDLength {
		return errs.Invalid("request_id", "must be at most %d characters", MaxRequestIDLength)
	}
	return nil
}

// idChar reports whether r may appear in an account id.
func idChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:@|+-", r)
}

// CheckID checks a required account id: 1 to 128 letters, digits and ".", "_", "-",
// ":", "@", "|", "+" (a token subject, usable in a URL path as it is).
func CheckID(field, id string) error {
	if id == "" {
		return errs.Invalid(field, "is required")
	}
	if len(id) > MaxIDLength || strings.IndexFunc(id, func(r rune) bool { return !idChar(r) }) >= 0 {
		return errs.Invalid(field, "must be 1 to %d letters, digits and . _ - : @ | +", MaxIDLength)
	}
	return nil
}

// checkText checks a display text of 0 (or 1, when required) to max characters: valid
// UTF-8, no control characters, no surrounding spaces.
func checkText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return errs.Invalid(field, "is required")
		}
		return nil
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errs.Invalid(field, "must be printable UTF-8 text")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return errs.Invalid(field, "must be at most %d characters, got %d", max, n)
	}
	if strings.TrimSpace(s) != s {
		return errs.Invalid(field, "must not begin or end with spaces")
	}
	return nil
}

// locale matches a BCP 47 tag in canonical case: language, optional script, optional
// region (letters or UN M.49 digits), for example "en", "de-DE", "zh-Hant-TW", "es-419".
var locale = regexp.MustCompile(`^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$`)

// checkProfile checks a profile; field is its path in the request.
func checkProfile(field string, p Profile) error {
	if err := checkText(field+".display_name", p.DisplayName, MaxDisplayNameLength, false); err != nil {
		return err
	}
	if err := checkLocale(field+".locale", p.Locale); err != nil {
		return err
	}
	return checkTimeZone(field+".time_zone", p.TimeZone)
}

func checkLocale(field, s string) error {
	if s != "" && !locale.MatchString(s) {
		return errs.Invalid(field, "must be a BCP 47 tag like \"en\", \"de-DE\" or \"zh-Hant-TW\"")
	}
	return nil
}

func checkTimeZone(field, s string) error {
	if s == "" {
		return nil
	}
	if s == "Local" || len(s) > 64 {
		return errs.Invalid(field, "must be an IANA time zone name like \"Europe/Berlin\"")
	}
	if _, err := time.LoadLocation(s); err != nil {
		return errs.Invalid(field, "must be an IANA time zone name like \"Europe/Berlin\"")
	}
	return nil
}

// NormalizeEmail checks an email address and returns it with its domain in lower case:
// at most 254 characters, "local@domain" without a display name, comments or spaces,
// and a domain with a dot.
func NormalizeEmail(field, s string) (string, error) {
	bad := errs.Invalid(field, "must be an email address like \"name@example.com\"")
	if s == "" {
		return "", errs.Invalid(field, "is required")
	}
	if len(s) > MaxEmailLength {
		return "", errs.Invalid(field, "must be at most %d characters", MaxEmailLength)
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		return "", bad
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") || strings.ContainsAny(domain, "[]") {
		return "", bad
	}
	return local + "@" + domain, nil
}

// e164 matches an E.164 phone number: "+", a non-zero digit, 7 to 14 more digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// CheckPhone checks a phone number in E.164 form.
func CheckPhone(field, s string) error {
	if s == "" {
		return errs.Invalid(field, "is required")
	}
	if !e164.MatchString(s) {
		return errs.Invalid(field, "must be an E.164 phone number like \"+4915112345678\"")
	}
	return nil
}

// normalizeContact checks the address of contact k (empty removes the contact) and
// returns it normalized; field is the contact's path in the request.
func normalizeContact(field string, k ContactKind, address string) (string, error) {
	if address == "" {
		return "", nil
	}
	if k == KindEmail {
		return NormalizeEmail(field+".address", address)
	}
	return address, CheckPhone(field+".address", address)
}

// checkCategory checks one category's preference: distinct known channels.
func checkCategory(field string, p CategoryPreference) error {
	for i, c := range p.Channels {
		f := field + ".channels[" + strconv.Itoa(i) + "]"
		if !c.Valid() {
			return errs.Invalid(f, "must be CHANNEL_EMAIL or CHANNEL_SMS")
		}
		for _, d := range p.Channels[:i] {
			if c == d {
				return errs.Invalid(f, "repeats a channel")
			}
		}
	}
	return nil
}

// checkPreferences checks every category; field is the preferences' path.
func checkPreferences(field string, p Preferences) error {
	if err := checkCategory(field+".transactional", p.Transactional); err != nil {
		return err
	}
	if err := checkCategory(field+".ride_updates", p.RideUpdates); err != nil {
		return err
	}
	return checkCategory(field+".marketing", p.Marketing)
}

// snake reports whether s holds only lower-case letters, digits and underscores.
func snake(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// checkSubStatus checks a free-form sub-status: 0 to 64 lower-case letters, digits and
// underscores.
func checkSubStatus(field, s string) error {
	if len(s) > MaxSubStatusLength || !snake(s) {
		return errs.Invalid(field, "must be 0 to %d lower-case letters, digits and underscores", MaxSubStatusLength)
	}
	return nil
}

// checkKind checks a contact kind of a request.
func checkKind(k ContactKind) error {
	if !k.Valid() {
		return errs.Invalid("kind", "must be CONTACT_KIND_EMAIL or CONTACT_KIND_PHONE")
	}
	return nil
}

// checkCode checks the form of an entered code: exactly 6 ASCII digits.
func checkCode(code string) error {
	if len(code) != CodeDigits || strings.IndexFunc(code, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return errs.Invalid("code", "must be %d digits", CodeDigits)
	}
	return nil
}
