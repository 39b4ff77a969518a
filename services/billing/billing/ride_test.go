package billing

import (
	"slices"
	"testing"

	"github.com/waybill/waybill/kit/money"
)

func TestUnpaidRides(t *testing.T) {
	eur := func(a int64) money.Money { return money.New(a, "EUR") }
	ride := func(billed int64, status MainStatus, amount int64) Item {
		it := Item{Kind: KindRide, Summary: &Summary{MainStatus: status, Amount: eur(amount)}}
		if billed != 0 {
			it.Billed = eur(billed)
		}
		return it
	}
	flight := Item{Kind: 1, Billed: eur(5000), Summary: &Summary{MainStatus: MainStatusConfirmed, Amount: eur(5000)}}
	bills := []Bill{
		{ID: "finalized-ride", Status: StatusFinalized, Items: []Item{ride(2677, MainStatusCompleted, 2677)}},
		{ID: "failed-ride", Status: StatusFailed, Items: []Item{flight, ride(800, MainStatusCancelled, 800)}},
		{ID: "finalized-flight", Status: StatusFinalized, Items: []Item{flight}},
		{ID: "free-ride", Status: StatusFinalized, Items: []Item{ride(0, MainStatusCancelled, 0)}},
		{ID: "open-completed", Status: StatusOpen, Items: []Item{ride(0, MainStatusCompleted, 1500)}},
		{ID: "open-requested", Status: StatusOpen, Items: []Item{ride(0, MainStatusPending, 1500)}},
		{ID: "open-no-summary", Status: StatusOpen, Items: []Item{{Kind: KindRide}}},
	}
	got := unpaidRides(bills)
	want := []string{"finalized-ride", "failed-ride", "open-completed"}
	if !slices.Equal(got, want) {
		t.Fatalf("unpaidRides = %v, want %v", got, want)
	}
}

func TestRideFareTitle(t *testing.T) {
	f := RideFare{City: "berlin", Product: "standard", DistanceMeters: 12345}
	if got := f.Title(); got != "standard ride in berlin, 12.3 km" {
		t.Fatalf("title %q", got)
	}
	f.CancellationFee = true
	if got := f.Title(); got != "Cancellation fee, standard ride in berlin" {
		t.Fatalf("title %q", got)
	}
}
