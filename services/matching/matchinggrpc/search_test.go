package matchinggrpc_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/matching/matching"
)

func (h *harness) search(t *testing.T, req *matchingv1.SearchNearbyDriversRequest) []*matchingv1.NearbyDriver {
	t.Helper()
	resp, err := h.service.SearchNearbyDrivers(grpctest.Context(t), req)
	if err != nil {
		t.Fatalf("SearchNearbyDrivers: %v", err)
	}
	return resp.GetDrivers()
}

func nearbyIDs(ns []*matchingv1.NearbyDriver) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.GetDriver().GetId()
	}
	return out
}

// TestSearchNearbyDrivers: the nearest AVAILABLE drivers with a fresh location serving
// the product, within the radius, nearest first, with distances and ETAs; the same set
// as brute force over what the test reported.
func TestSearchNearbyDrivers(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	pickup := matching.Point{Lat: 52.52, Lng: 13.405}
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	type placed struct {
		id       string
		p        matching.Point
		products []string
		eligible bool // AVAILABLE and fresh
	}
	var all []placed
	for i := range 40 {
		products := []string{"standard"}
		if i%3 == 0 {
			products = []string{"standard", "xl"}
		}
		d := h.online(t, products...)
		p := matching.Point{Lat: pickup.Lat + (r.Float64()-0.5)*0.08, Lng: pickup.Lng + (r.Float64()-0.5)*0.12}
		if i%10 == 0 {
			p = pickup // duplicates at the pickup itself
		}
		at, eligible := now, true
		if i%7 == 5 { // stale: its fix is older than the freshness limit
			at, eligible = now.Add(-2*time.Minute), false
		}
		h.locate(t, d.GetId(), p.Lat, p.Lng, at)
		if i%7 == 6 { // offline after reporting
			if _, err := h.operator.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: d.GetId()}); err != nil {
				t.Fatal(err)
			}
			eligible = false
		}
		all = append(all, placed{d.GetId(), p, products, eligible})
	}
	brute := func(product string, radius float64, limit int) []string {
		type hit struct {
			id string
			d  float64
		}
		var hs []hit
		for _, a := range all {
			if !a.eligible || (product == "xl" && len(a.products) < 2) {
				continue
			}
			if d := matching.DistanceMeters(pickup, a.p); d <= radius {
				hs = append(hs, hit{a.id, d})
			}
		}
		sort.Slice(hs, func(i, j int) bool {
			if hs[i].d != hs[j].d {
				return hs[i].d < hs[j].d
			}
			return hs[i].id < hs[j].id
		})
		out := []string{}
		for _, x := range hs[:min(len(hs), limit)] {
			out = append(out, x.id)
		}
		return out
	}
	for _, q := range []struct {
		product string
		radius  int32
		limit   int32
	}{{"", 0, 0}, {"", 50000, 100}, {"xl", 2000, 5}, {"standard", 1500, 3}, {"", 10, 10}} {
		got := h.search(t, &matchingv1.SearchNearbyDriversRequest{
			Pickup: &typev1.GeoPoint{Latitude: pickup.Lat, Longitude: pickup.Lng}, RadiusMeters: q.radius, Product: q.product, Limit: q.limit,
		})
		radius, limit := float64(q.radius), int(q.limit)
		if radius == 0 {
			radius = 3000
		}
		if limit == 0 {
			limit = 10
		}
		want := brute(q.product, radius, limit)
		if ids := nearbyIDs(got); len(ids) != len(want) || (len(ids) > 0 && ids[0] != want[0]) {
			t.Fatalf("query %+v: %v, brute force %v", q, ids, want)
		}
		for i, n := range got {
			if n.GetDriver().GetId() != want[i] {
				t.Fatalf("query %+v: hit %d = %s, brute force %s", q, i, n.GetDriver().GetId(), want[i])
			}
			if n.GetDriver().GetStatus() != matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE || n.GetDriver().GetLastLocation() == nil {
				t.Fatalf("hit %v", n)
			}
			if i > 0 && (n.GetEtaSeconds() < got[i-1].GetEtaSeconds() || n.GetDistanceMeters() < got[i-1].GetDistanceMeters()) {
				t.Fatalf("hits out of order: %v then %v", got[i-1], n)
			}
			p := n.GetDriver().GetLastLocation()
			d := matching.DistanceMeters(pickup, matching.Point{Lat: p.GetLatitude(), Lng: p.GetLongitude()})
			if n.GetDistanceMeters() != int32(math.Round(d)) || n.GetEtaSeconds() != matching.ETASeconds(d) {
				t.Fatalf("hit %v: distance and eta for %.1f m", n, d)
			}
		}
	}
}

// TestSearchBadInput: malformed searches are INVALID_ARGUMENT naming the field; drivers
// and customers may not search.
func TestSearchBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	p := &typev1.GeoPoint{Latitude: 52.5, Longitude: 13.4}
	cases := []struct {
		field string
		req   *matchingv1.SearchNearbyDriversRequest
	}{
		{"pickup", &matchingv1.SearchNearbyDriversRequest{}},
		{"pickup.latitude", &matchingv1.SearchNearbyDriversRequest{Pickup: &typev1.GeoPoint{Latitude: -91}}},
		{"pickup.longitude", &matchingv1.SearchNearbyDriversRequest{Pickup: &typev1.GeoPoint{Longitude: 181}}},
		{"radius_meters", &matchingv1.SearchNearbyDriversRequest{Pickup: p, RadiusMeters: -1}},
		{"radius_meters", &matchingv1.SearchNearbyDriversRequest{Pickup: p, RadiusMeters: 50001}},
		{"limit", &matchingv1.SearchNearbyDriversRequest{Pickup: p, Limit: 101}},
		{"limit", &matchingv1.SearchNearbyDriversRequest{Pickup: p, Limit: -1}},
		{"product", &matchingv1.SearchNearbyDriversRequest{Pickup: p, Product: "XL"}},
	}
	for _, c := range cases {
		_, err := h.service.SearchNearbyDrivers(ctx, c.req)
		grpctest.WantField(t, err, c.field)
	}
	d := h.online(t)
	for _, c := range []matchingv1.MatchingServiceClient{h.as(d.GetId()), h.customer} {
		_, err := c.SearchNearbyDrivers(ctx, &matchingv1.SearchNearbyDriversRequest{Pickup: p})
		grpctest.WantCode(t, err, codes.PermissionDenied)
	}
}

// TestIndexRebuiltFromDatabase: a second replica (and a restarted one) finds the drivers
// the first one located, from the positions it persisted in batches.
func TestIndexRebuiltFromDatabase(t *testing.T) {
	t.Parallel()
	h := start(t)
	now := time.Now()
	var want []string
	for i := range 5 {
		d := h.online(t)
		h.locate(t, d.GetId(), 48.1351+float64(i)*0.001, 11.582, now)
		want = append(want, d.GetId())
	}
	h.create(t, newDriver()) // OFFLINE: not tracked
	grpctest.Eventually(t, 10*time.Second, "5 persisted locations", func() bool { return h.count(t, "driver_location") == 5 })
	h.srv.Stop()

	second := start(t, grpctest.WithPool(h.pool))
	req := &matchingv1.SearchNearbyDriversRequest{Pickup: &typev1.GeoPoint{Latitude: 48.1351, Longitude: 11.582}, Limit: 10}
	var got []string
	grpctest.Eventually(t, 10*time.Second, "the rebuilt index finds the 5 drivers", func() bool {
		got = nearbyIDs(second.search(t, req))
		return len(got) == 5
	})
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rebuilt search = %v, want %v (nearest first)", got, want)
		}
	}
}

// TestReplicasSyncDriverStatus: a replica's index learns the status changes another
// replica made (its periodic sync), not only at start: a driver who goes offline through
// one replica drops out of the other's search, and comes back when online again.
func TestReplicasSyncDriverStatus(t *testing.T) {
	t.Parallel()
	h := start(t)
	other := start(t, grpctest.WithPool(h.pool))
	d := h.online(t)
	h.locate(t, d.GetId(), 48.1351, 11.582, time.Now())
	req := &matchingv1.SearchNearbyDriversRequest{Pickup: &typev1.GeoPoint{Latitude: 48.1351, Longitude: 11.582}}
	grpctest.Eventually(t, 10*time.Second, "the other replica finds the driver", func() bool { return len(other.search(t, req)) == 1 })
	if _, err := h.as(d.GetId()).SetDriverAvailability(grpctest.Context(t), &matchingv1.SetDriverAvailabilityRequest{DriverId: d.GetId()}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the offline driver gone from the other replica", func() bool { return len(other.search(t, req)) == 0 })
	if _, err := h.as(d.GetId()).SetDriverAvailability(grpctest.Context(t), &matchingv1.SetDriverAvailabilityRequest{DriverId: d.GetId(), Online: true}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the driver back on the other replica", func() bool { return len(other.search(t, req)) == 1 })
}
