package billing

import (
	"slices"
	"testing"
)

func TestFirstBills(t *testing.T) {
	refs := []ItemRef{
		{Bill: 2, ReservationID: "4"}, {Bill: 0, ReservationID: "1"},
		{Bill: 1, ReservationID: "3"}, {Bill: 0, ReservationID: "2"},
		{Bill: 2, ReservationID: "5"},
	}
	for _, tc := range []struct {
		n    int
		want []string
	}{{0, nil}, {1, []string{"1", "2"}}, {2, []string{"1", "3", "2"}}, {3, []string{"4", "1", "3", "2", "5"}}, {9, []string{"4", "1", "3", "2", "5"}}} {
		var got []string
		for _, r := range firstBills(refs, tc.n) {
			got = append(got, r.ReservationID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("firstBills(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
