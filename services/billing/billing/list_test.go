package billing

import (
	"slices"
	"testing"
)

func TestFirstBills(t *testing.T) {
	refs := []ItemRef{
		{BillID: "a", ReservationID: "1"}, {BillID: "a", ReservationID: "2"},
		{BillID: "b", ReservationID: "3"},
		{BillID: "c", ReservationID: "4"}, {BillID: "c", ReservationID: "5"},
	}
	for _, tc := range []struct {
		n    int
		want []string
	}{{0, nil}, {1, []string{"1", "2"}}, {2, []string{"1", "2", "3"}}, {3, []string{"1", "2", "3", "4", "5"}}, {9, []string{"1", "2", "3", "4", "5"}}} {
		var got []string
		for _, r := range firstBills(refs, tc.n) {
			got = append(got, r.ReservationID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("firstBills(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
