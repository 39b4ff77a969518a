package ids

import (
	"strings"
	"testing"
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
