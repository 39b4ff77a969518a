package matching_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/waybill/waybill/services/matching/matching"
)

// TestSearchReturnsDriverRecords: a hit carries the driver's record as the index was
// last told (every field but Location, which is the hit's Fix), under the same version
// guard as status and products: an older version's record changes nothing, a newer one
// replaces it. Drivers with the same products share one slice, and every hit still
// reads its own driver's values.
func TestSearchReturnsDriverRecords(t *testing.T) {
	t.Parallel()
	c := &clock{t: t0}
	x := matching.NewIndex(matching.IndexOptions{Now: c.now})
	p := matching.Point{Lat: 52.5, Lng: 13.4}
	record := func(id, name string, version int64) matching.Driver {
		return matching.Driver{
			ID: id, Name: name, City: "berlin", Status: matching.StatusAvailable, SubStatus: "sub " + name,
			Vehicle:        matching.Vehicle{Plate: "B-" + id, Model: "Model " + name, Products: []string{"standard", "xl"}},
			CurrentMatchID: "", CurrentTripID: "",
			CreateTime: t0.Add(-time.Hour), UpdateTime: t0.Add(time.Duration(version) * time.Microsecond),
			Version: version,
		}
	}
	apply := func(d matching.Driver) {
		f := matching.Fix{Point: p, Time: t0}
		x.Apply(matching.Tracked{ID: d.ID, Status: d.Status, Products: d.Vehicle.Products, Version: d.Version, Location: &f, Driver: d})
	}
	want := map[string]matching.Driver{"a": record("a", "Ann", 2), "b": record("b", "Bo", 1)}
	apply(want["a"])
	apply(want["b"])
	apply(record("a", "Old Ann", 1)) // older: ignored
	check := func() {
		t.Helper()
		hs := x.Search(nil, matching.Query{Point: p, RadiusMeters: 100, Limit: 10, Product: "xl"})
		if len(hs) != len(want) {
			t.Fatalf("%d hits, want %d", len(hs), len(want))
		}
		for _, h := range hs {
			if !reflect.DeepEqual(h.Driver, want[h.DriverID]) {
				t.Fatalf("hit %s carries\n%+v\nwant\n%+v", h.DriverID, h.Driver, want[h.DriverID])
			}
		}
	}
	check()
	want["a"] = record("a", "Anna", 3)
	apply(want["a"])
	check()
	// Busy drivers carry their match and trip; they are not searched, but Candidate
	// (manual dispatch) and a later AVAILABLE version show what the index holds.
	busy := record("b", "Bo", 2)
	busy.Status, busy.CurrentMatchID, busy.CurrentTripID = matching.StatusOffered, "m-1", "trip-1"
	apply(busy)
	delete(want, "b")
	check()
	want["b"] = record("b", "Bo", 3)
	apply(want["b"])
	check()
	if h, ok := x.Candidate("b", p, "xl"); !ok || !reflect.DeepEqual(h.Driver, want["b"]) {
		t.Fatalf("Candidate = %+v, %v", h.Driver, ok)
	}
}
