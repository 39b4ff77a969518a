package fare_test

import (
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/fare/fare"
)

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// field returns the field an INVALID_ARGUMENT error names, or "" for any other error.
func field(err error) string {
	if e, ok := errs.As(err); ok && e.Kind == errs.InvalidArgument && len(e.Fields) > 0 {
		return e.Fields[0].Field
	}
	return ""
}

func TestPickSurge(t *testing.T) {
	center := fare.GeoPoint{Latitude: 52.5219, Longitude: 13.4132}
	near := fare.GeoPoint{Latitude: 52.5129, Longitude: 13.4132} // ~1 km south
	far := fare.GeoPoint{Latitude: 52.5351, Longitude: 13.1974}  // ~15 km west
	zone := func(name string, radius int32, bps int32) fare.Surge {
		return fare.Surge{City: "berlin", Zone: name, MultiplierBps: bps, Center: &center, RadiusMeters: radius}
	}
	def := fare.Surge{City: "berlin", Zone: fare.DefaultZone, MultiplierBps: 12000}
	for _, tc := range []struct {
		name   string
		zones  []fare.Surge
		pickup fare.GeoPoint
		want   string
		ok     bool
	}{
		{"no zones", nil, center, "", false},
		{"default only", []fare.Surge{def}, far, fare.DefaultZone, true},
		{"outside every circle, no default", []fare.Surge{zone("mitte", 2000, 20000)}, far, "", false},
		{"smallest containing zone", []fare.Surge{def, zone("mitte", 2000, 20000), zone("alex", 300, 15000)}, center, "alex", true},
		{"enclosing zone when outside the small one", []fare.Surge{zone("alex", 300, 15000), def, zone("mitte", 2000, 20000)}, near, "mitte", true},
		{"equal radius: lowest zone id", []fare.Surge{zone("b", 2000, 20000), zone("a", 2000, 15000)}, center, "a", true},
	} {
		got, ok := fare.PickSurge(tc.zones, tc.pickup)
		if ok != tc.ok || got.Zone != tc.want {
			t.Errorf("%s: PickSurge = %q, %v; want %q, %v", tc.name, got.Zone, ok, tc.want, tc.ok)
		}
	}
}

func TestSurgeActiveBps(t *testing.T) {
	s := fare.Surge{MultiplierBps: 20000}
	if got := s.ActiveBps(now); got != 20000 {
		t.Fatalf("without expiry: %d", got)
	}
	s.ExpireTime = now.Add(time.Second)
	if got := s.ActiveBps(now); got != 20000 {
		t.Fatalf("before expiry: %d", got)
	}
	s.ExpireTime = now
	if got := s.ActiveBps(now); got != 10000 {
		t.Fatalf("at expiry: %d, want 10000", got)
	}
}

func TestMergeUpdateEffectiveTime(t *testing.T) {
	base := fare.RateCard{
		ID: "c", Key: fare.ProductKey{Kind: fare.KindStay, Stay: fare.StayProduct{PropertyID: "p", RoomType: "r"}}, Currency: "EUR",
		Inventory: &fare.InventoryPricing{UnitPrice: money.Money{Amount: 100, Currency: "EUR"}}, Version: 4,
		EffectiveTime: now.Add(-time.Hour), Description: "old",
	}
	scheduled := base
	scheduled.EffectiveTime = now.Add(time.Hour)
	patch := fare.RateCard{Description: "new", EffectiveTime: now.Add(3 * time.Hour)}
	for _, tc := range []struct {
		name   string
		latest fare.RateCard
		paths  []string
		want   time.Time
	}{
		{"in effect: the new version takes effect now", base, []string{"description"}, now},
		{"scheduled: stays scheduled", scheduled, []string{"description"}, now.Add(time.Hour)},
		{"named in the mask", base, []string{"description", "effective_time"}, now.Add(3 * time.Hour)},
	} {
		got, err := fare.MergeUpdate(tc.latest, patch, tc.paths, "ops", now)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !got.EffectiveTime.Equal(tc.want) || got.Version != 5 || got.Description != "new" || got.Author != "ops" || got.Inventory.UnitPrice.Amount != 100 {
			t.Errorf("%s: got %+v, want effective %v", tc.name, got, tc.want)
		}
	}
	// The merge does not share the latest version's pricing.
	got, _ := fare.MergeUpdate(base, patch, []string{"description"}, "ops", now)
	got.Inventory.UnitPrice.Amount = 1
	if base.Inventory.UnitPrice.Amount != 100 {
		t.Fatal("MergeUpdate aliased the latest version's pricing")
	}
}

func TestNormalizeRateCardEffectiveTime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		eff   time.Time
		want  time.Time
		field string
	}{
		{"unset is now", time.Time{}, now, ""},
		{"within the skew is now", now.Add(-30 * time.Second), now, ""},
		{"future stays", now.Add(time.Hour), now.Add(time.Hour), ""},
		{"past fails", now.Add(-2 * time.Minute), time.Time{}, "rate_card.effective_time"},
	} {
		c := fare.RateCard{
			Key: fare.ProductKey{Kind: fare.KindRide, Ride: fare.RideProduct{City: "berlin", Product: "x"}}, Currency: "EUR",
			Ride: &fare.RidePricing{}, EffectiveTime: tc.eff,
		}
		err := fare.NormalizeRateCard(&c, now)
		if field(err) != tc.field || (tc.field == "" && !c.EffectiveTime.Equal(tc.want)) {
			t.Errorf("%s: effective %v, err %v", tc.name, c.EffectiveTime, err)
		}
		if tc.field == "" && c.Ride.BaseFare.Currency != "EUR" {
			t.Errorf("%s: empty currencies not filled: %+v", tc.name, c.Ride)
		}
	}
}

func TestInventoryQuoteInputValidate(t *testing.T) {
	stay := fare.ProductKey{Kind: fare.KindStay, Stay: fare.StayProduct{PropertyID: "p", RoomType: "r"}}
	seat := fare.ProductKey{Kind: fare.KindSeat, Seat: fare.SeatProduct{Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "y"}}
	d := func(y, m, day int) *fare.Date { return &fare.Date{Year: y, Month: m, Day: day} }
	load := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name            string
		in              fare.InventoryQuoteInput
		nights, loadBps int32
		field           string
	}{
		{"seat", fare.InventoryQuoteInput{Key: seat, Quantity: 1, LoadFactorBps: load(10000)}, 1, 10000, ""},
		{"occupancy rounds down", fare.InventoryQuoteInput{Key: seat, Quantity: 1, Occupancy: &fare.Occupancy{Used: 2, Capacity: 3}}, 1, 6666, ""},
		{"both loads", fare.InventoryQuoteInput{Key: seat, Quantity: 1, LoadFactorBps: load(1), Occupancy: &fare.Occupancy{Used: 2, Capacity: 3}}, 0, 0, "load_factor_bps"},
		{"stay over a month end", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2030, 6, 29), CheckOut: d(2030, 7, 2), LoadFactorBps: load(0)}, 3, 0, ""},
		{"check-in yesterday is allowed (time zones)", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2030, 5, 31), CheckOut: d(2030, 6, 2), LoadFactorBps: load(0)}, 2, 0, ""},
		{"check-in two days ago", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2030, 5, 30), CheckOut: d(2030, 6, 2), LoadFactorBps: load(0)}, 0, 0, "check_in_date"},
		{"30 nights", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2030, 6, 1), CheckOut: d(2030, 7, 1), LoadFactorBps: load(0)}, 30, 0, ""},
		{"31 nights", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2030, 6, 1), CheckOut: d(2030, 7, 2), LoadFactorBps: load(0)}, 0, 0, "check_out_date"},
		{"February 29th of a common year", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2031, 2, 29), CheckOut: d(2031, 3, 2), LoadFactorBps: load(0)}, 0, 0, "check_in_date"},
		{"check-out on day 0", fare.InventoryQuoteInput{Key: stay, Quantity: 1, CheckIn: d(2030, 7, 1), CheckOut: d(2030, 7, 0), LoadFactorBps: load(0)}, 0, 0, "check_out_date"},
	} {
		nights, loadBps, err := tc.in.Validate(now)
		if field(err) != tc.field || (err != nil) != (tc.field != "") {
			t.Errorf("%s: err %v, want field %q", tc.name, err, tc.field)
			continue
		}
		if err == nil && (nights != tc.nights || loadBps != tc.loadBps) {
			t.Errorf("%s: nights %d load %d, want %d %d", tc.name, nights, loadBps, tc.nights, tc.loadBps)
		}
	}
}
