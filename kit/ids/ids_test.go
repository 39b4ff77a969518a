package ids

import "testing"

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
