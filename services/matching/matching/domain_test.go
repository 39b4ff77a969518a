package matching_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/services/matching/matching"
)

// TestTransitions: the contract's table of driver status transitions, and nothing else.
func TestTransitions(t *testing.T) {
	t.Parallel()
	off, av, of, on := matching.StatusOffline, matching.StatusAvailable, matching.StatusOffered, matching.StatusOnTrip
	allowed := map[[2]matching.Status]bool{
		{off, av}: true, {av, off}: true, {av, of}: true, {of, av}: true, {of, on}: true, {on, av}: true,
	}
	all := []matching.Status{matching.StatusUnspecified, off, av, of, on}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanBecome(to); got != allowed[[2]matching.Status{from, to}] {
				t.Errorf("%s → %s allowed = %v", from, to, got)
			}
		}
	}
}

// TestETA: the estimate grows with distance, so ranking by ETA ranks by distance.
func TestETA(t *testing.T) {
	t.Parallel()
	prev := int32(-1)
	for d := 0.0; d < 60_000; d += 7.3 {
		eta := matching.ETASeconds(d)
		if eta < prev {
			t.Fatalf("ETA(%v) = %d < %d", d, eta, prev)
		}
		prev = eta
	}
	if got := matching.ETASeconds(1000); got != 156 {
		t.Fatalf("ETA(1 km) = %d s, want 156 (1.3 × 1 km at 30 km/h)", got)
	}
}

// TestDistance checks the haversine against known distances.
func TestDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b matching.Point
		want float64 // meters
	}{
		{matching.Point{Lat: 52.5200, Lng: 13.4050}, matching.Point{Lat: 48.1351, Lng: 11.5820}, 504_200}, // Berlin–Munich
		{matching.Point{Lat: 0, Lng: 179.9}, matching.Point{Lat: 0, Lng: -179.9}, 22_239},                 // across the antimeridian
		{matching.Point{Lat: 90, Lng: 0}, matching.Point{Lat: 90, Lng: 120}, 0},                           // the pole
		{matching.Point{Lat: 89.9, Lng: 0}, matching.Point{Lat: 89.9, Lng: 180}, 22_239},                  // over the pole
	} {
		if got := matching.DistanceMeters(c.a, c.b); got < c.want*0.999-1 || got > c.want*1.001+1 {
			t.Errorf("distance %v–%v = %.0f m, want %.0f", c.a, c.b, got, c.want)
		}
	}
}

// TestIndexConcurrentUse runs fixes, status changes, sweeps and searches at once (for
// the race detector), then checks the index against brute force.
func TestIndexConcurrentUse(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return c.t }
	x := matching.NewIndex(matching.IndexOptions{Now: now})
	const n = 300
	for i := range n {
		x.Apply(matching.Tracked{ID: fmt.Sprintf("d%03d", i), Status: matching.StatusAvailable, Products: []string{"standard"}, Version: 1})
	}
	hub := matching.Point{Lat: 40.4168, Lng: -3.7038}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 2000 {
				id := fmt.Sprintf("d%03d", r.IntN(n))
				switch r.IntN(10) {
				case 0:
					x.Apply(matching.Tracked{ID: id, Status: matching.Status(1 + r.IntN(4)), Products: []string{"standard"}, Version: int64(i)})
				case 1:
					x.Sweep()
				case 2, 3, 4:
					x.Search(nil, matching.Query{Point: near(r, hub, 0.05), RadiusMeters: 5000, Limit: 10})
				default:
					x.Locate(id, matching.Fix{Point: near(r, hub, 0.05), Time: t0.Add(time.Duration(i) * time.Millisecond)})
				}
			}
		})
	}
	wg.Wait()
	// Bring every driver back AVAILABLE at a known fix; the index must agree with brute force.
	r := rand.New(rand.NewPCG(5, 5))
	var drivers []matching.Tracked
	for i := range n {
		f := matching.Fix{Point: near(r, hub, 0.05), Time: t0.Add(time.Hour)}
		d := matching.Tracked{ID: fmt.Sprintf("d%03d", i), Status: matching.StatusAvailable, Products: []string{"standard"}, Version: 1 << 20, Location: &f}
		x.Apply(d)
		drivers = append(drivers, d)
	}
	mu.Lock()
	c.t = t0.Add(time.Hour)
	mu.Unlock()
	w := &world{drivers: drivers, clock: c, index: x}
	for range 100 {
		w.check(t, randomQuery(r, near(r, hub, 0.05)))
	}
	if s := x.Stats(); s.Drivers != n || s.Searchable != n {
		t.Fatalf("stats %+v, want %d drivers, all searchable", s, n)
	}
}
