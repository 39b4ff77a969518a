package fare_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/fare/fare"
)

// offset returns the point north and east meters of p (flat-earth, fine at city scale).
func offset(p fare.GeoPoint, north, east float64) fare.GeoPoint {
	const m = 111_320.0 // meters per degree of latitude
	return fare.GeoPoint{Latitude: p.Latitude + north/m, Longitude: p.Longitude + east/(m*math.Cos(p.Latitude*math.Pi/180))}
}

var origin = fare.GeoPoint{Latitude: 52.5219, Longitude: 13.4132}

// drive returns a route along the legs (north, east in meters), one point every second
// at speed m/s, starting at start.
func drive(start time.Time, speed float64, legs ...[2]float64) []fare.RoutePoint {
	pos, t := origin, start
	route := []fare.RoutePoint{{Point: pos, Time: t}}
	for _, leg := range legs {
		length := math.Hypot(leg[0], leg[1])
		steps := int(math.Ceil(length / speed))
		from := pos
		for i := 1; i <= steps; i++ {
			f := float64(i) / float64(steps)
			t = t.Add(time.Second)
			pos = offset(from, leg[0]*f, leg[1]*f)
			route = append(route, fare.RoutePoint{Point: pos, Time: t})
		}
	}
	return route
}

func record(route []fare.RoutePoint) fare.TripRecord {
	rec := fare.TripRecord{TripID: "t", CustomerID: "c", City: "berlin", Product: "standard", Route: route}
	if len(route) > 0 {
		rec.StartTime, rec.EndTime = route[0].Time, route[len(route)-1].Time
		end := route[len(route)-1].Point
		rec.ActualDropoff = &end
	}
	rec.Pickup = &origin
	return rec
}

func berlinCard() fare.RateCard {
	eur := func(a int64) money.Money { return money.New(a, "EUR") }
	return fare.RateCard{ID: "card", Version: 1, Currency: "EUR",
		Key:     fare.ProductKey{Kind: fare.KindRide, Ride: fare.RideProduct{City: "berlin", Product: "standard"}},
		Ride:    &fare.RidePricing{BaseFare: eur(300), PerKilometer: eur(150), PerMinute: eur(30), MinimumFare: eur(800)},
		Dynamic: &fare.DynamicPricing{MinMultiplierBps: 10000, MaxMultiplierBps: 30000}}
}

func TestMeasureRoute(t *testing.T) {
	start := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	straight := record(drive(start, 10, [2]float64{3000, 0}))
	detour := record(drive(start, 10, [2]float64{1500, 0}, [2]float64{0, 1000}, [2]float64{1500, 0}, [2]float64{0, -1000}))

	ms, md := fare.MeasureRoute(straight), fare.MeasureRoute(detour)
	if ms.Source != fare.DistanceFromRoute || math.Abs(float64(ms.Meters)-3000) > 30 {
		t.Fatalf("straight 3 km route measured %+v", ms)
	}
	if md.Source != fare.DistanceFromRoute || math.Abs(float64(md.Meters)-5000) > 50 {
		t.Fatalf("5 km detour measured %+v", md)
	}
	// The detour costs more than the straight route, with everything else equal.
	card := berlinCard()
	ps := fare.PriceRide(card, ms.Meters, 300, 10000)
	pd := fare.PriceRide(card, md.Meters, 300, 10000)
	if pd.Total <= ps.Total {
		t.Fatalf("detour %d not dearer than the straight route %d", pd.Total, ps.Total)
	}

	t.Run("stationary jitter of 10 m adds under 1%", func(t *testing.T) {
		// Drive 2 km, stand 10 minutes with fixes wandering up to 10 m around the car,
		// then drive 2 km more.
		r := rand.New(rand.NewPCG(1, 2))
		route := drive(start, 10, [2]float64{2000, 0})
		stop := route[len(route)-1]
		tm := stop.Time
		for i := 0; i < 600; i++ {
			tm = tm.Add(time.Second)
			a, d := r.Float64()*2*math.Pi, r.Float64()*10
			route = append(route, fare.RoutePoint{Point: offset(stop.Point, d*math.Sin(a), d*math.Cos(a)), Time: tm})
		}
		rest := drive(tm.Add(time.Second), 10, [2]float64{2000, 0})
		for _, p := range rest {
			p.Point = offset(p.Point, 2000, 0)
			route = append(route, p)
		}
		m := fare.MeasureRoute(record(route))
		if m.Source != fare.DistanceFromRoute || m.Meters < 3950 || float64(m.Meters) > 4000*1.01 {
			t.Fatalf("4 km with a 10-minute stop in 10 m jitter measured %+v, want 4 km within 1%%", m)
		}
	})

	t.Run("an impossible jump is dropped", func(t *testing.T) {
		route := drive(start, 10, [2]float64{1000, 0})
		route[50].Point = offset(route[50].Point, 0, 5000) // 5 km away for one second
		m := fare.MeasureRoute(record(route))
		if m.Outliers != 1 || math.Abs(float64(m.Meters)-1000) > 20 {
			t.Fatalf("route with one outlier measured %+v", m)
		}
	})

	t.Run("sparse routes use the fallback", func(t *testing.T) {
		// Two points ten minutes apart: sparse. With a reported distance, that is used.
		sparse := record([]fare.RoutePoint{{Point: origin, Time: start}, {Point: offset(origin, 3000, 0), Time: start.Add(10 * time.Minute)}})
		sparse.ReportedDistanceMeters = 4321
		if m := fare.MeasureRoute(sparse); m.Source != fare.DistanceReported || m.Meters != 4321 || m.Sparse == "" {
			t.Fatalf("sparse route with a reported distance measured %+v", m)
		}
		// Without one: 1.3 × the straight line from the first point to the drop-off.
		sparse.ReportedDistanceMeters = 0
		if m := fare.MeasureRoute(sparse); m.Source != fare.DistanceStraightLine || math.Abs(float64(m.Meters)-3900) > 40 {
			t.Fatalf("sparse route without a reported distance measured %+v, want about 3900", m)
		}
		// No route at all: from the pickup.
		empty := record(nil)
		end := offset(origin, 0, 2000)
		empty.ActualDropoff = &end
		empty.StartTime, empty.EndTime = start, start.Add(5*time.Minute)
		if m := fare.MeasureRoute(empty); m.Source != fare.DistanceStraightLine || math.Abs(float64(m.Meters)-2600) > 30 {
			t.Fatalf("empty route measured %+v, want about 2600", m)
		}
	})

	t.Run("recomputing gives the same distance", func(t *testing.T) {
		if a, b := fare.MeasureRoute(detour), fare.MeasureRoute(detour); a != b {
			t.Fatalf("%+v then %+v", a, b)
		}
	})
}

func TestRideDurationAndCancellation(t *testing.T) {
	start := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	rec := fare.TripRecord{StartTime: start, EndTime: start.Add(10*time.Minute + 900*time.Millisecond), ReportedDurationSeconds: 5}
	if d := fare.RideDuration(rec); d != 600 {
		t.Fatalf("duration %d, want 600 from the trip's own timestamps", d)
	}
	rec.StartTime = time.Time{}
	if d := fare.RideDuration(rec); d != 5 {
		t.Fatalf("duration %d, want the reported 5 without a start time", d)
	}
	for _, tc := range []struct {
		name           string
		cancelled, due bool
		late           bool
	}{
		{"cancelled, no fee due", true, false, false},
		{"cancelled, fee due", true, true, true},
		{"ended", false, true, false},
	} {
		r := fare.TripRecord{Cancelled: tc.cancelled, FeeDue: tc.due, CancelledBy: fare.CancelByRider, AssignTime: start, CancelTime: start.Add(3 * time.Minute)}
		if got := fare.LateCancellation(r); got != tc.late {
			t.Errorf("%s: late %v, want %v", tc.name, got, tc.late)
		}
	}
	f := fare.CancellationFee(fare.Fare{TripID: "t"}, berlinCard())
	if f.Total.Amount != 800 || len(f.Lines) != 1 || f.Lines[0].Code != "cancellation_fee" {
		t.Fatalf("cancellation fee %+v", f)
	}
}

func TestNextZoneSurge(t *testing.T) {
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, drivers, requests int32) fare.ZoneSupplyDemand {
		return fare.ZoneSupplyDemand{Zone: "47a85c", AvailableDrivers: drivers, OpenRequests: requests, AsOf: t0.Add(at)}
	}
	// A zone's first count is taken as is: ratio 0.5, no surge.
	z := fare.NextZoneSurge(nil, ev(0, 10, 5), t0)
	if z.RawBps != 5000 || z.RatioBps != 5000 || z.At(t0) != 10000 {
		t.Fatalf("first count: %+v", z)
	}
	// Demand jumps to 3 requests per driver: the multiplier follows the smoothed ratio
	// over time (half-life 20 s), not at once.
	z = fare.NextZoneSurge(&z, ev(10*time.Second, 2, 6), t0)
	for _, tc := range []struct {
		after time.Duration
		want  int32
	}{
		{0, 10000},                // smoothed 0.5
		{20 * time.Second, 13000}, // smoothed 1.75 → 1.375x → step 1.3x
		{60 * time.Second, 18000}, // smoothed 2.6875 → 1.84x → 1.8x
		{10 * time.Minute, 20000}, // smoothed 3.0 → 2.0x
	} {
		if got := z.At(z.AsOf.Add(tc.after)); got != tc.want {
			t.Errorf("%v after 3 requests per driver: %d bps, want %d", tc.after, got, tc.want)
		}
	}
	// 100 requests per driver: capped at 3.0x.
	capped := fare.NextZoneSurge(&z, ev(time.Hour, 1, 100), t0)
	if got := capped.At(capped.AsOf.Add(time.Hour)); got != fare.MaxZoneSurgeBps {
		t.Fatalf("100 requests per driver: %d bps", got)
	}
	// Hysteresis: at a steady ratio of 2.8 a surge of 2.0x stays (falling needs the target
	// of 2.8 + 0.25 below it), where a rising multiplier would be 1.9x.
	steady := fare.ZoneSurge{Zone: "47a85c", RawBps: 28000, RatioBps: 28000, MultiplierBps: 20000, AsOf: t0}
	if got := steady.At(t0.Add(time.Hour)); got != 20000 {
		t.Fatalf("steady ratio 2.8 from 2.0x: %d bps, want 20000", got)
	}
	// Demand stops: no further events come (the counts hold), yet the surge decays.
	quiet := fare.NextZoneSurge(&z, ev(time.Hour, 10, 0), t0)
	if got := quiet.At(quiet.AsOf); got != 20000 {
		t.Fatalf("at the quiet count: %d bps, want still 20000", got)
	}
	if got := quiet.At(quiet.AsOf.Add(20 * time.Second)); got != 13000 {
		t.Fatalf("20 s after demand stopped: %d bps, want 13000", got)
	}
	if got := quiet.At(quiet.AsOf.Add(10 * time.Minute)); got != 10000 {
		t.Fatalf("10 min after demand stopped: %d bps, want 10000", got)
	}
	// Bounded whatever the counts.
	for _, c := range [][2]int32{{0, 0}, {0, 1 << 30}, {1 << 30, 0}, {-5, -5}} {
		n := fare.NextZoneSurge(&z, fare.ZoneSupplyDemand{AvailableDrivers: c[0], OpenRequests: c[1], AsOf: t0.Add(2 * time.Hour)}, t0)
		for _, after := range []time.Duration{0, time.Second, time.Hour} {
			if m := n.At(n.AsOf.Add(after)); m < 10000 || m > fare.MaxZoneSurgeBps {
				t.Fatalf("counts %v gave %d bps", c, m)
			}
		}
	}
}

func TestPickRideSurge(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	auto := &fare.ZoneSurge{Zone: fare.ZoneOf(origin), RawBps: 20000, RatioBps: 20000, MultiplierBps: 15000, AsOf: now}
	def := fare.Surge{City: "berlin", Zone: fare.DefaultZone, MultiplierBps: 12000}
	circle := fare.Surge{City: "berlin", Zone: "alex", MultiplierBps: 20000, Center: &origin, RadiusMeters: 500}
	expired := circle
	expired.ExpireTime = now.Add(-time.Minute)
	for _, tc := range []struct {
		name  string
		zones []fare.Surge
		auto  *fare.ZoneSurge
		bps   int32
		zone  string
	}{
		{"nothing", nil, nil, 10000, ""},
		{"default only", []fare.Surge{def}, nil, 12000, "default"},
		{"automatic beats default", []fare.Surge{def}, auto, 15000, "s2-" + auto.Zone},
		{"operator zone overrides automatic", []fare.Surge{def, circle}, auto, 20000, "alex"},
		{"expired operator zone does not", []fare.Surge{def, expired}, auto, 15000, "s2-" + auto.Zone},
	} {
		bps, zone, _ := fare.PickRideSurge(tc.zones, tc.auto, origin, now)
		if bps != tc.bps || zone != tc.zone {
			t.Errorf("%s: %d %q, want %d %q", tc.name, bps, zone, tc.bps, tc.zone)
		}
	}
}
