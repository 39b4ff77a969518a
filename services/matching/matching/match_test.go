package matching_test

import (
	"testing"

	"github.com/waybill/waybill/services/matching/matching"
)

// TestMatchTransitions: the contract's table of match transitions (match.proto), and
// which statuses hold a trip.
func TestMatchTransitions(t *testing.T) {
	const (
		s = matching.MatchSearching
		o = matching.MatchOffered
		a = matching.MatchAssigned
		f = matching.MatchFailed
		c = matching.MatchCancelled
	)
	allowed := map[[2]matching.MatchStatus]bool{
		{s, o}: true, {o, s}: true, {o, a}: true, {s, f}: true, {o, f}: true,
		{s, c}: true, {o, c}: true, {a, c}: true,
	}
	all := []matching.MatchStatus{s, o, a, f, c}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanBecome(to); got != allowed[[2]matching.MatchStatus{from, to}] {
				t.Errorf("%s → %s allowed = %v", from, to, got)
			}
		}
	}
	for st, want := range map[matching.MatchStatus]bool{s: true, o: true, a: true, f: false, c: false} {
		if st.Active() != want {
			t.Errorf("%s active = %v", st, st.Active())
		}
	}
}
