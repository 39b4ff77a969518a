package ids

import (
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/errs"
)

func TestValidUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"3f85ffb1-a263-4369-9417-c08850b35f93":  true,
		"3F85FFB1-A263-4369-9417-C08850B35F93":  true,
		"":                                      false,
		"3f85ffb1a2634369-9417-c08850b35f93-":   false,
		"3f85ffb1-a263-4369-9417-c08850b35f9":   false,
		"3f85ffb1-a263-4369-9417-c08850b35f93a": false,
		"3f85ffb1-a263-4369-9417-c08850b35f9g":  false,
		"{3f85ffb1-a263-4369-9417-c08850b35f9}": false,
	} {
		if got := ValidUUID(s); got != want {
			t.Errorf("ValidUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New()
		if !ValidUUID(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("New() = %q: not a canonical version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestCheck(t *testing.T) {
	for id, want := range map[string]string{
		"3ee179dd-9062-4daa-916a-204231ea7d35": "",
		"":                                     "is required",
		"not-a-uuid":                           "must be a UUID",
	} {
		err := Check("bill_id", id)
		if want == "" {
			if err != nil {
				t.Errorf("Check(%q) = %v", id, err)
			}
			continue
		}
		e, ok := errs.As(err)
		if !ok || e.Kind != errs.InvalidArgument || e.Fields[0].Field != "bill_id" || e.Fields[0].Description != want {
			t.Errorf("Check(%q) = %#v, want INVALID_ARGUMENT bill_id %q", id, err, want)
		}
	}
}
