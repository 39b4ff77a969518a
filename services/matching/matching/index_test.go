package matching_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/waybill/waybill/services/matching/matching"
)

// clock is a test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// world is a set of drivers, as the index and as a plain list for brute force.
type world struct {
	drivers []matching.Tracked
	clock   *clock
	index   *matching.Index
}

var products = []string{"standard", "xl", "green"}

// randomDriver returns driver i at p: mostly AVAILABLE, mostly fresh, serving one to
// three products.
func randomDriver(r *rand.Rand, i int, p matching.Point) matching.Tracked {
	status := matching.StatusAvailable
	switch n := r.IntN(10); {
	case n == 0:
		status = matching.StatusOffered
	case n == 1:
		status = matching.StatusOnTrip
	}
	age := time.Duration(r.IntN(50)) * time.Second // fresh
	if r.IntN(6) == 0 {
		age = matching.DefaultStaleAfter + time.Duration(r.IntN(300))*time.Second // stale
	}
	ps := slices.Clone(products[:1+r.IntN(len(products))])
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	return matching.Tracked{
		ID:       fmt.Sprintf("d%06d", i),
		Status:   status,
		Products: ps,
		Version:  1,
		Location: &matching.Fix{Point: p, Time: t0.Add(-age)},
	}
}

func newWorld(drivers []matching.Tracked) *world {
	c := &clock{t: t0}
	x := matching.NewIndex(matching.IndexOptions{Now: c.now})
	for _, d := range drivers {
		x.Apply(d)
	}
	return &world{drivers: drivers, clock: c, index: x}
}

// bruteForce ranks every eligible driver by DistanceMeters.
func (w *world) bruteForce(q matching.Query) []matching.Hit {
	var all []matching.Hit
	for _, d := range w.drivers {
		if d.Status != matching.StatusAvailable || d.Location == nil ||
			w.clock.t.Sub(d.Location.Time) >= matching.DefaultStaleAfter ||
			(q.Product != "" && !slices.Contains(d.Products, q.Product)) {
			continue
		}
		if dist := matching.DistanceMeters(q.Point, d.Location.Point); dist <= q.RadiusMeters {
			all = append(all, matching.Hit{DriverID: d.ID, Fix: *d.Location, DistanceMeters: dist})
		}
	}
	slices.SortFunc(all, func(a, b matching.Hit) int {
		if c := cmp.Compare(a.DistanceMeters, b.DistanceMeters); c != 0 {
			return c
		}
		return cmp.Compare(a.DriverID, b.DriverID)
	})
	return all[:min(len(all), q.Limit)]
}

func (w *world) check(t *testing.T, q matching.Query) {
	t.Helper()
	got, want := w.index.Search(nil, q), w.bruteForce(q)
	if len(got) != len(want) {
		t.Fatalf("query %+v: %d hits, brute force %d\ngot  %v\nwant %v", q, len(got), len(want), ids(got), ids(want))
	}
	for i := range got {
		if got[i].DriverID != want[i].DriverID || got[i].DistanceMeters != want[i].DistanceMeters {
			t.Fatalf("query %+v: hit %d = %s at %.3f m, brute force %s at %.3f m\ngot  %v\nwant %v", q, i,
				got[i].DriverID, got[i].DistanceMeters, want[i].DriverID, want[i].DistanceMeters, ids(got), ids(want))
		}
	}
}

func ids(hs []matching.Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.DriverID
	}
	return out
}

func randomQuery(r *rand.Rand, p matching.Point) matching.Query {
	q := matching.Query{Point: p, RadiusMeters: float64(r.IntN(50_001)), Limit: 1 + r.IntN(100)}
	if r.IntN(3) > 0 {
		q.Product = products[r.IntN(len(products))]
	}
	if r.IntN(4) == 0 {
		q.Limit = 1 + r.IntN(10)
	}
	return q
}

// clamp keeps a point on the globe, wrapping longitude.
func clamp(p matching.Point) matching.Point {
	p.Lat = max(-90, min(90, p.Lat))
	for p.Lng > 180 {
		p.Lng -= 360
	}
	for p.Lng < -180 {
		p.Lng += 360
	}
	return p
}

// near returns a point about spread degrees around c.
func near(r *rand.Rand, c matching.Point, spread float64) matching.Point {
	return clamp(matching.Point{Lat: c.Lat + (r.Float64()*2-1)*spread, Lng: c.Lng + (r.Float64()*2-1)*spread})
}

// TestSearchMatchesBruteForce compares the index with brute force on random drivers and
// queries: a city with duplicate points, the antimeridian, both poles, and the globe.
func TestSearchMatchesBruteForce(t *testing.T) {
	t.Parallel()
	type scene struct {
		name   string
		center matching.Point
		spread float64 // degrees around center; 0 = anywhere
	}
	scenes := []scene{
		{"berlin", matching.Point{Lat: 52.52, Lng: 13.405}, 0.3},
		{"antimeridian", matching.Point{Lat: -17, Lng: 180}, 0.6},
		{"antimeridian-north", matching.Point{Lat: 65.5, Lng: -180}, 0.9},
		{"north-pole", matching.Point{Lat: 90, Lng: 0}, 180},
		{"south-pole", matching.Point{Lat: -89.8, Lng: 45}, 180},
		{"globe", matching.Point{}, 0},
	}
	for i, sc := range scenes {
		t.Run(sc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			point := func() matching.Point {
				switch {
				case sc.spread == 0:
					return matching.Point{Lat: r.Float64()*180 - 90, Lng: r.Float64()*360 - 180}
				case sc.spread == 180: // a polar cap, within about 0.5 degrees of latitude
					lat := sc.center.Lat - math.Copysign(r.Float64()*0.5, sc.center.Lat)
					return clamp(matching.Point{Lat: lat, Lng: r.Float64()*360 - 180})
				}
				return near(r, sc.center, sc.spread)
			}
			var drivers []matching.Tracked
			var pts []matching.Point
			for j := range 3000 {
				p := point()
				if len(pts) > 0 && r.IntN(5) == 0 {
					p = pts[r.IntN(len(pts))] // a duplicate point
				}
				pts = append(pts, p)
				drivers = append(drivers, randomDriver(r, j, p))
			}
			w := newWorld(drivers)
			for range 400 {
				q := randomQuery(r, point())
				if r.IntN(4) == 0 {
					q.Point = pts[r.IntN(len(pts))] // right on a driver
				}
				if sc.spread == 0 {
					q.RadiusMeters = float64(r.IntN(2_000_001)) // sparse: wider than the API allows
				}
				w.check(t, q)
			}
		})
	}
}

// TestSearchDegenerate: hundreds of drivers at one coordinate share one spot, and ties
// rank by id.
func TestSearchDegenerate(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	hub := matching.Point{Lat: 48.8566, Lng: 2.3522}
	var drivers []matching.Tracked
	for i := range 800 {
		p := hub
		if i%4 == 3 {
			p = near(r, hub, 0.01)
		}
		drivers = append(drivers, randomDriver(r, i, p))
	}
	w := newWorld(drivers)
	if s := w.index.Stats(); s.Spots > 250 {
		t.Fatalf("%d spots for 600 drivers at one point and 200 elsewhere", s.Spots)
	}
	for range 200 {
		q := randomQuery(r, near(r, hub, 0.02))
		w.check(t, q)
	}
	w.check(t, matching.Query{Point: hub, RadiusMeters: 0, Limit: 100})
	w.check(t, matching.Query{Point: hub, RadiusMeters: 3000, Limit: 5, Product: "green"})
}

// TestStaleAndUnavailableExcluded: a search sees a driver only while AVAILABLE with a
// fresh fix, and the sweep drops stale fixes from the tree.
func TestStaleAndUnavailableExcluded(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	x := matching.NewIndex(matching.IndexOptions{Now: c.now, StaleAfter: 30 * time.Second})
	p := matching.Point{Lat: 52.5, Lng: 13.4}
	x.Apply(matching.Tracked{ID: "a", Status: matching.StatusAvailable, Products: []string{"standard"}, Version: 1})
	q := matching.Query{Point: p, RadiusMeters: 1000, Limit: 10}
	if hs := x.Search(nil, q); len(hs) != 0 {
		t.Fatalf("a driver without a fix was found: %v", hs)
	}
	if got, ok := x.Locate("a", matching.Fix{Point: p, Time: t0}); !ok || !got.Accepted {
		t.Fatalf("Locate = %+v, %v", got, ok)
	}
	if hs := x.Search(nil, q); len(hs) != 1 || hs[0].DistanceMeters != 0 {
		t.Fatalf("Search = %v, want driver a at 0 m", hs)
	}
	if hs := x.Search(nil, matching.Query{Point: p, RadiusMeters: 1000, Limit: 10, Product: "xl"}); len(hs) != 0 {
		t.Fatalf("a driver without xl was found for xl: %v", hs)
	}
	// An older fix is ignored.
	if got, _ := x.Locate("a", matching.Fix{Point: matching.Point{Lat: 1, Lng: 1}, Time: t0.Add(-time.Second)}); got.Accepted || got.Last.Point != p {
		t.Fatalf("an older fix: %+v", got)
	}
	// Unavailable: not found; available again: found.
	x.Apply(matching.Tracked{ID: "a", Status: matching.StatusOnTrip, Products: []string{"standard"}, Version: 2})
	if hs := x.Search(nil, q); len(hs) != 0 {
		t.Fatalf("an ON_TRIP driver was found: %v", hs)
	}
	// A version older than the index's does not undo the change.
	x.Apply(matching.Tracked{ID: "a", Status: matching.StatusAvailable, Products: []string{"standard"}, Version: 1})
	if hs := x.Search(nil, q); len(hs) != 0 {
		t.Fatalf("an older version brought the driver back: %v", hs)
	}
	x.Apply(matching.Tracked{ID: "a", Status: matching.StatusAvailable, Products: []string{"standard"}, Version: 3})
	if hs := x.Search(nil, q); len(hs) != 1 {
		t.Fatalf("an AVAILABLE driver was not found: %v", hs)
	}
	// Stale: excluded at once, swept from the tree later.
	c.t = t0.Add(30 * time.Second)
	if hs := x.Search(nil, q); len(hs) != 0 {
		t.Fatalf("a stale driver was found: %v", hs)
	}
	if n := x.Sweep(); n != 1 || x.Stats().Searchable != 0 {
		t.Fatalf("Sweep = %d, stats %+v", n, x.Stats())
	}
	// A new fix brings them back.
	if got, _ := x.Locate("a", matching.Fix{Point: p, Time: c.t}); !got.Accepted {
		t.Fatal("a new fix after the sweep was not accepted")
	}
	if hs := x.Search(nil, q); len(hs) != 1 {
		t.Fatalf("driver not found after a new fix: %v", hs)
	}
	// OFFLINE: out of the tree, and Locate refuses to track them.
	x.Apply(matching.Tracked{ID: "a", Status: matching.StatusOffline, Version: 4})
	if _, ok := x.Locate("a", matching.Fix{Point: p, Time: c.t.Add(time.Second)}); ok {
		t.Fatal("Locate tracked an OFFLINE driver")
	}
	if hs, s := x.Search(nil, q), x.Stats(); len(hs) != 0 || s.Searchable != 0 || s.Spots != 0 {
		t.Fatalf("an OFFLINE driver: hits %v, stats %+v", hs, s)
	}
}

// TestDirtyPositions: every accepted fix is handed to the flusher once, the last per
// driver, and given back after a failure.
func TestDirtyPositions(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	x := matching.NewIndex(matching.IndexOptions{Now: c.now})
	for _, id := range []string{"a", "b"} {
		x.Apply(matching.Tracked{ID: id, Status: matching.StatusAvailable, Version: 1})
	}
	for i := range 5 {
		x.Locate("a", matching.Fix{Point: matching.Point{Lat: float64(i)}, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	x.Locate("b", matching.Fix{Time: t0})
	ps := x.TakeDirty()
	slices.SortFunc(ps, func(a, b matching.Position) int { return cmp.Compare(a.DriverID, b.DriverID) })
	if len(ps) != 2 || ps[0].Fix.Point.Lat != 4 || ps[1].DriverID != "b" {
		t.Fatalf("TakeDirty = %+v", ps)
	}
	if again := x.TakeDirty(); len(again) != 0 {
		t.Fatalf("TakeDirty again = %+v", again)
	}
	x.Redirty(ps)
	if again := x.TakeDirty(); len(again) != 2 {
		t.Fatalf("after Redirty: %+v", again)
	}
}
