package matchinggrpc_test

import (
	"testing"
	"time"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/matching/matching"
)

// zoneCounts are the counts a zone's events said last: available drivers, open requests.
type zoneCounts [2]int32

// zoneWatcher reads matching.zone.supply_demand events into the latest counts per zone.
type zoneWatcher struct {
	r      *eventReader
	latest map[string]zoneCounts
	n      int
}

// until reads zone events until every zone of want has its counts (zones missing from
// want may say anything); it fails after 10 s.
func (w *zoneWatcher) until(t *testing.T, want map[string]zoneCounts) {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() {
		select {
		case <-done:
		default:
			t.Errorf("zones %v, want %v", w.latest, want)
		}
	})
	defer timer.Stop()
	defer close(done)
	for !w.has(want) {
		var ev matchingv1.ZoneSupplyDemandEvent
		key := w.r.nextAny(matching.EventTypeZoneSupplyDemand, &ev)
		if key != ev.GetZone() || ev.GetAsOf() == nil || matching.ZoneOf(matching.Point{Lat: ev.GetCenter().GetLatitude(), Lng: ev.GetCenter().GetLongitude()}) != key {
			t.Fatalf("zone event key %s: %v", key, &ev)
		}
		w.latest[key] = zoneCounts{ev.GetAvailableDrivers(), ev.GetOpenRequests()}
		w.n++
	}
}

func (w *zoneWatcher) has(want map[string]zoneCounts) bool {
	for z, c := range want {
		if w.latest[z] != c {
			return false
		}
	}
	return true
}

func zoneOf(p *typev1.GeoPoint) string {
	return matching.ZoneOf(matching.Point{Lat: p.GetLatitude(), Lng: p.GetLongitude()})
}

// TestZoneSupplyDemand: every zone interval, each zone whose counts of available drivers
// (fresh, AVAILABLE) and open requests (SEARCHING or OFFERED matches) changed gets a
// matching.zone.supply_demand event keyed by its S2 level-12 token, a zone that emptied
// included; unchanged zones get none.
func TestZoneSupplyDemand(t *testing.T) {
	t.Parallel()
	c := matchConfig()
	c.ZoneInterval = 200 * time.Millisecond
	h := startWith(t, c)
	ctx := grpctest.Context(t)
	w := &zoneWatcher{r: h.events(t), latest: map[string]zoneCounts{}}

	berlinA, berlinB := north(berlin, 50), north(berlin, 100)
	munich := &typev1.GeoPoint{Latitude: 48.137, Longitude: 11.575}
	hamburg := &typev1.GeoPoint{Latitude: 53.551, Longitude: 9.993}
	h.driverAt(t, berlinA)
	h.driverAt(t, berlinB)
	m := h.driverAt(t, munich)
	req := matchReq(10 * time.Second)
	req.Pickup = hamburg
	open := h.createMatch(t, req)

	want := map[string]zoneCounts{zoneOf(munich): {1, 0}, zoneOf(hamburg): {0, 1}}
	want[zoneOf(berlinA)] = zoneCounts{want[zoneOf(berlinA)][0] + 1, 0}
	want[zoneOf(berlinB)] = zoneCounts{want[zoneOf(berlinB)][0] + 1, 0}
	w.until(t, want)

	// The Munich driver goes offline, the Hamburg match is cancelled: both zones empty.
	if _, err := h.as(m.GetId()).SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: m.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: open.GetId()}); err != nil {
		t.Fatal(err)
	}
	want[zoneOf(munich)], want[zoneOf(hamburg)] = zoneCounts{}, zoneCounts{}
	before := w.n
	w.until(t, want)
	if w.n-before != 2 {
		t.Fatalf("%d zone events for two changed zones", w.n-before)
	}
	// Nothing changes for several intervals: no event.
	time.Sleep(5 * c.ZoneInterval)
	var rows int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM zone_count`).Scan(&rows); err != nil || rows != len(want)-2 {
		t.Fatalf("zone_count holds %d zones, want %d (%v)", rows, len(want)-2, err)
	}
	if got := h.countEvents(t, matching.EventTypeZoneSupplyDemand); got != w.n {
		t.Fatalf("%d zone events in the log, %d read: unchanged zones were emitted again", got, w.n)
	}
}
