package matching_test

import (
	"testing"

	"github.com/golang/geo/s2"

	"github.com/waybill/waybill/services/matching/matching"
)

// TestZoneOf: a point's zone is the token of the level-12 S2 cell holding it; nearby
// points share it, points a few kilometers apart do not.
func TestZoneOf(t *testing.T) {
	for _, p := range []matching.Point{{52.52, 13.405}, {-33.86, 151.21}, {0, 180}, {0, -180}, {90, 0}, {-90, 0}, {64.1, -21.9}} {
		tok := matching.ZoneOf(p)
		id := s2.CellIDFromToken(tok)
		if !id.IsValid() || id.Level() != matching.ZoneLevel {
			t.Fatalf("ZoneOf(%v) = %q: level %d, valid %v", p, tok, id.Level(), id.IsValid())
		}
		if !s2.CellFromCellID(id).ContainsPoint(s2.PointFromLatLng(s2.LatLngFromDegrees(p.Lat, p.Lng))) {
			t.Fatalf("the zone %s of %v does not contain it", tok, p)
		}
	}
	a := matching.ZoneOf(matching.Point{Lat: 52.52, Lng: 13.405})
	if b := matching.ZoneOf(matching.Point{Lat: 52.52001, Lng: 13.40501}); a != b {
		t.Fatalf("points 1 m apart in zones %s and %s", a, b)
	}
	if c := matching.ZoneOf(matching.Point{Lat: 52.60, Lng: 13.405}); a == c {
		t.Fatalf("points 9 km apart share zone %s", a)
	}
}
