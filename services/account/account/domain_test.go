package account

import (
	"testing"

	"github.com/waybill/waybill/kit/errs"
)

func TestNormalizeEmail(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"ada@example.com", "ada@example.com", true},
		{"Ada.Lovelace+trips@Example.COM", "Ada.Lovelace+trips@example.com", true},
		{"", "", false},
		{"ada", "", false},
		{"ada@", "", false},
		{"@example.com", "", false},
		{"ada@localhost", "", false},
		{"ada@example..com", "", false},
		{"ada@.example.com", "", false},
		{"Ada <ada@example.com>", "", false},
		{"ada @example.com", "", false},
		{"ada@exämple.com", "", false},
		{"ada@[127.0.0.1]", "", false},
		{string(make([]byte, 255)), "", false},
	} {
		got, err := NormalizeEmail("email", c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestCheckPhone(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"+4915112345678", true},
		{"+14155550123", true},
		{"+123456789012345", true},   // 15 digits
		{"+1234567890123456", false}, // 16 digits
		{"+1234567", false},          // 7 digits
		{"+0123456789", false},       // no country code starts with 0
		{"4915112345678", false},
		{"+49 151 12345678", false},
		{"", false},
	} {
		if err := CheckPhone("phone", c.in); (err == nil) != c.ok {
			t.Errorf("CheckPhone(%q) = %v, want ok %v", c.in, err, c.ok)
		}
	}
}

func TestCheckProfile(t *testing.T) {
	for _, c := range []struct {
		p     Profile
		field string // "" when valid
	}{
		{Profile{}, ""},
		{Profile{DisplayName: "Ada", Locale: "en", TimeZone: "UTC"}, ""},
		{Profile{Locale: "zh-Hant-TW", TimeZone: "Asia/Taipei"}, ""},
		{Profile{Locale: "es-419", TimeZone: "America/Argentina/Buenos_Aires"}, ""},
		{Profile{Locale: "en_GB"}, "p.locale"},
		{Profile{Locale: "EN"}, "p.locale"},
		{Profile{TimeZone: "Local"}, "p.time_zone"},
		{Profile{TimeZone: "Europe/Atlantis"}, "p.time_zone"},
		{Profile{TimeZone: "../etc/passwd"}, "p.time_zone"},
		{Profile{DisplayName: "Ada\n"}, "p.display_name"},
		{Profile{DisplayName: "Ada "}, "p.display_name"},
	} {
		err := checkProfile("p", c.p)
		if c.field == "" {
			if err != nil {
				t.Errorf("checkProfile(%+v) = %v", c.p, err)
			}
			continue
		}
		if e, ok := errs.As(err); !ok || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
			t.Errorf("checkProfile(%+v) = %v, want an error naming %s", c.p, err, c.field)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"cust-1", true},
		{"auth0|5f7c8ec7c33c6c004bbafe82", true},
		{"ada@example.com", true},
		{"", false},
		{"a/b", false},
		{"a b", false},
		{"ä", false},
		{string(make([]byte, 129)), false},
	} {
		if err := CheckID("id", c.in); (err == nil) != c.ok {
			t.Errorf("CheckID(%q) = %v, want ok %v", c.in, err, c.ok)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"ada@example.com": "a***@example.com",
		"+4915112345678":  "+49*********78",
		"+14155550123":    "+14*******23",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusTransitions(t *testing.T) {
	all := []Status{StatusActive, StatusSuspended, StatusDeleted}
	allowed := map[[2]Status]bool{
		{StatusActive, StatusSuspended}: true, {StatusSuspended, StatusActive}: true,
		{StatusActive, StatusDeleted}: true, {StatusSuspended, StatusDeleted}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanBecome(to); got != allowed[[2]Status{from, to}] {
				t.Errorf("%s → %s allowed = %v", from, to, got)
			}
		}
	}
}

func TestCodeCheck(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{{"123456", true}, {"000000", true}, {"12345", false}, {"1234567", false}, {"12a456", false}, {"１２３４５６", false}} {
		if err := checkCode(c.in); (err == nil) != c.ok {
			t.Errorf("checkCode(%q) = %v, want ok %v", c.in, err, c.ok)
		}
	}
	for range 100 {
		if err := checkCode(newCode()); err != nil {
			t.Fatalf("newCode made a code checkCode refuses: %v", err)
		}
	}
}
