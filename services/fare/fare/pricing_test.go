package fare_test

import (
	"testing"

	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/fare/fare"
)

func TestMulBpsRoundsHalfAwayFromZero(t *testing.T) {
	for _, tc := range []struct {
		amount int64
		bps    int32
		want   int64
	}{
		{10000, 10000, 10000},
		{10000, 12500, 12500},
		{1, 15000, 2},      // 1.5 → 2
		{1, 14999, 1},      // 1.4999 → 1
		{3, 5000, 2},       // 1.5 → 2
		{5, 1000, 1},       // 0.5 → 1
		{4, 1000, 0},       // 0.4 → 0
		{-1, 15000, -2},    // -1.5 → -2
		{-3, 5000, -2},     // -1.5 → -2
		{-4, 1000, 0},      // -0.4 → 0
		{8999, 9000, 8099}, // 8099.1
		{0, 100000, 0},
		{money.MaxAmount, 100000, 10 * money.MaxAmount},
	} {
		if got := fare.MulBps(tc.amount, tc.bps); got != tc.want {
			t.Errorf("MulBps(%d, %d) = %d, want %d", tc.amount, tc.bps, got, tc.want)
		}
	}
}

func TestLoadFactorBpsRoundsDown(t *testing.T) {
	for _, tc := range []struct {
		used, capacity, want int32
	}{
		{0, 1, 0}, {1, 1, 10000}, {1, 3, 3333}, {2, 3, 6666}, {199, 200, 9950}, {5, 10, 5000},
	} {
		if got := fare.LoadFactorBps(tc.used, tc.capacity); got != tc.want {
			t.Errorf("LoadFactorBps(%d, %d) = %d, want %d", tc.used, tc.capacity, got, tc.want)
		}
	}
}

// curve: 0.9x from 0 %, 1.0x from 50 %, 1.25x from 80 %, 1.5x from 95 %, bounded to
// [0.95x, 1.4x]; the tiers are deliberately out of order.
var curve = &fare.DynamicPricing{MinMultiplierBps: 9500, MaxMultiplierBps: 14000, Tiers: []fare.LoadFactorTier{
	{ThresholdBps: 8000, MultiplierBps: 12500},
	{ThresholdBps: 0, MultiplierBps: 9000},
	{ThresholdBps: 9500, MultiplierBps: 15000},
	{ThresholdBps: 5000, MultiplierBps: 10000},
}}

func TestInventoryMultiplier(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *fare.DynamicPricing
		load int32
		want int32
	}{
		{"no dynamic pricing", nil, 9999, 10000},
		{"empty, raised to the lower bound", curve, 0, 9500},
		{"just below a tier", curve, 4999, 9500},
		{"at a tier's threshold", curve, 5000, 10000},
		{"between tiers", curve, 7999, 10000},
		{"80 %", curve, 8000, 12500},
		{"95 %, capped at the upper bound", curve, 9500, 14000},
		{"full", curve, 10000, 14000},
		{"no tier applies: 1.0x", &fare.DynamicPricing{MaxMultiplierBps: 20000, Tiers: []fare.LoadFactorTier{{ThresholdBps: 5000, MultiplierBps: 20000}}}, 4000, 10000},
		{"zero bounds mean 1.0x", &fare.DynamicPricing{Tiers: []fare.LoadFactorTier{{ThresholdBps: 0, MultiplierBps: 30000}}}, 10000, 10000},
		{"zero max only caps at 1.0x", &fare.DynamicPricing{MinMultiplierBps: 5000, Tiers: []fare.LoadFactorTier{{ThresholdBps: 0, MultiplierBps: 2000}}}, 0, 5000},
	} {
		if got := fare.InventoryMultiplier(tc.d, tc.load); got != tc.want {
			t.Errorf("%s: InventoryMultiplier(load %d) = %d, want %d", tc.name, tc.load, got, tc.want)
		}
	}
}

func inventoryCard(kind fare.ProductKind, unit int64, d *fare.DynamicPricing) fare.RateCard {
	return fare.RateCard{
		Key:       fare.ProductKey{Kind: kind},
		Currency:  "EUR",
		Inventory: &fare.InventoryPricing{UnitPrice: money.Money{Amount: unit, Currency: "EUR"}},
		Dynamic:   d,
	}
}

func TestPriceInventory(t *testing.T) {
	for _, tc := range []struct {
		name                string
		card                fare.RateCard
		qty, nights, load   int32
		wantMult            int32
		wantUnit, wantTotal int64
		wantLines           []int64
	}{
		{"one seat at base", inventoryCard(fare.KindSeat, 10000, nil), 1, 1, 9000, 10000, 10000, 10000, []int64{10000}},
		{"seats at 1.25x", inventoryCard(fare.KindSeat, 10000, curve), 4, 1, 8500, 12500, 12500, 50000, []int64{40000, 10000}},
		{"unit rounded before quantity", inventoryCard(fare.KindSeat, 333, curve), 3, 1, 8000, 12500, 416, 1248, []int64{999, 249}},   // 416.25 → 416
		{"half rounds up", inventoryCard(fare.KindSeat, 2, curve), 1, 1, 8000, 12500, 3, 3, []int64{2, 1}},                            // 2.5 → 3
		{"stay nights and discount", inventoryCard(fare.KindStay, 8999, curve), 2, 3, 1000, 9500, 8549, 51294, []int64{53994, -2700}}, // 8549.05
		{"free product", inventoryCard(fare.KindSeat, 0, curve), 5, 1, 10000, 14000, 0, 0, []int64{0, 0}},
		{"largest amounts", inventoryCard(fare.KindStay, money.MaxAmount, &fare.DynamicPricing{MaxMultiplierBps: 100000, Tiers: []fare.LoadFactorTier{{MultiplierBps: 100000}}}), 100, 30, 0, 100000,
			10 * money.MaxAmount, 10 * money.MaxAmount * 3000, []int64{money.MaxAmount * 3000, 9 * money.MaxAmount * 3000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fare.PriceInventory(tc.card, tc.qty, tc.nights, tc.load)
			if p.MultiplierBps != tc.wantMult || p.UnitPrice != tc.wantUnit || p.Total != tc.wantTotal {
				t.Fatalf("multiplier %d unit %d total %d, want %d %d %d", p.MultiplierBps, p.UnitPrice, p.Total, tc.wantMult, tc.wantUnit, tc.wantTotal)
			}
			var sum int64
			var amounts []int64
			for _, l := range p.Lines {
				sum += l.Amount
				amounts = append(amounts, l.Amount)
			}
			if sum != p.Total {
				t.Fatalf("lines %v sum to %d, not the total %d", p.Lines, sum, p.Total)
			}
			if len(amounts) != len(tc.wantLines) {
				t.Fatalf("lines %v, want amounts %v", p.Lines, tc.wantLines)
			}
			for i := range amounts {
				if amounts[i] != tc.wantLines[i] {
					t.Fatalf("lines %v, want amounts %v", p.Lines, tc.wantLines)
				}
			}
		})
	}
}

func rideCard(base, perKm, perMin, minimum int64, maxBps int32) fare.RateCard {
	m := func(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }
	return fare.RateCard{
		Key:      fare.ProductKey{Kind: fare.KindRide},
		Currency: "EUR",
		Ride:     &fare.RidePricing{BaseFare: m(base), PerKilometer: m(perKm), PerMinute: m(perMin), MinimumFare: m(minimum)},
		Dynamic:  &fare.DynamicPricing{MaxMultiplierBps: maxBps},
	}
}

func TestPriceRide(t *testing.T) {
	for _, tc := range []struct {
		name         string
		card         fare.RateCard
		meters, secs int64
		surge        int32
		wantMult     int32
		wantTotal    int64
		wantCodes    []string
	}{
		// 300 + 150 × 12.345 (1851.75 → 1852) + 30 × 17.5 (525) = 2677.
		{"no surge", rideCard(300, 150, 30, 800, 30000), 12345, 1050, 10000, 10000, 2677, []string{"base_fare", "distance", "time"}},
		// 2677 × 1.5 = 4015.5 → 4016.
		{"surge", rideCard(300, 150, 30, 800, 30000), 12345, 1050, 15000, 15000, 4016, []string{"base_fare", "distance", "time", "surge"}},
		{"surge capped by the card", rideCard(300, 150, 30, 800, 12000), 12345, 1050, 50000, 12000, 3212, []string{"base_fare", "distance", "time", "surge"}}, // 3212.4
		{"surge below 1.0x raised", rideCard(300, 150, 30, 800, 12000), 12345, 1050, 5000, 10000, 2677, []string{"base_fare", "distance", "time"}},
		// 300 + 150 × 0.5 (75) + 30 × 1 (30) = 405 < 800.
		{"minimum fare", rideCard(300, 150, 30, 800, 30000), 500, 60, 10000, 10000, 800, []string{"base_fare", "distance", "time", "minimum_fare"}},
		// 405 × 1.5 = 607.5 → 608 < 800: the minimum applies after surge.
		{"minimum after surge", rideCard(300, 150, 30, 800, 30000), 500, 60, 15000, 15000, 800, []string{"base_fare", "distance", "time", "surge", "minimum_fare"}},
		{"per-km rounding half up", rideCard(0, 1, 0, 0, 0), 500, 0, 10000, 10000, 1, []string{"base_fare", "distance", "time"}}, // 0.5 → 1
		{"per-minute rounding down", rideCard(0, 0, 1, 0, 0), 0, 29, 10000, 10000, 0, []string{"base_fare", "distance", "time"}}, // 0.483 → 0
		{"largest ride", rideCard(money.MaxAmount, money.MaxAmount, money.MaxAmount, 0, 100000), fare.MaxDistanceMeters, fare.MaxDurationSeconds, 100000, 100000,
			10 * (money.MaxAmount + money.MaxAmount*1000 + money.MaxAmount*1440), []string{"base_fare", "distance", "time", "surge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fare.PriceRide(tc.card, tc.meters, tc.secs, tc.surge)
			if p.MultiplierBps != tc.wantMult || p.Total != tc.wantTotal {
				t.Fatalf("multiplier %d total %d, want %d %d (lines %v)", p.MultiplierBps, p.Total, tc.wantMult, tc.wantTotal, p.Lines)
			}
			var sum int64
			var codes []string
			for _, l := range p.Lines {
				sum += l.Amount
				codes = append(codes, l.Code)
			}
			if sum != p.Total {
				t.Fatalf("lines %v sum to %d, not the total %d", p.Lines, sum, p.Total)
			}
			if len(codes) != len(tc.wantCodes) {
				t.Fatalf("line codes %v, want %v", codes, tc.wantCodes)
			}
			for i := range codes {
				if codes[i] != tc.wantCodes[i] {
					t.Fatalf("line codes %v, want %v", codes, tc.wantCodes)
				}
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fare.FormatBps(12500), "1.25x"},
		{fare.FormatBps(10000), "1.0x"},
		{fare.FormatBps(9050), "0.905x"},
		{fare.FormatPercentBps(8550), "85.5%"},
		{fare.FormatPercentBps(10000), "100%"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestProductKeyCanonicalRoundTrip(t *testing.T) {
	keys := []fare.ProductKey{
		{Kind: fare.KindSeat, Seat: fare.SeatProduct{Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "economy", DepartureID: "d\"1,]"}},
		{Kind: fare.KindSeat, Seat: fare.SeatProduct{Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "economy"}},
		{Kind: fare.KindStay, Stay: fare.StayProduct{PropertyID: "p", RoomType: "double"}},
		{Kind: fare.KindRide, Ride: fare.RideProduct{City: "berlin", Product: "xl"}},
	}
	seen := map[string]bool{}
	for _, k := range keys {
		c := k.Canonical()
		if seen[c] {
			t.Fatalf("two keys share %s", c)
		}
		seen[c] = true
		back, err := fare.ParseProductKey(c)
		if err != nil || back != k {
			t.Fatalf("ParseProductKey(%s) = %+v, %v; want %+v", c, back, err, k)
		}
	}
}
