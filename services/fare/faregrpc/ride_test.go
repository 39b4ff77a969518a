package faregrpc_test

import (
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/services/fare/fare"
)

var (
	alexanderplatz = &typev1.GeoPoint{Latitude: 52.5219, Longitude: 13.4132}
	// About 1 km south of Alexanderplatz.
	nearAlex = &typev1.GeoPoint{Latitude: 52.5129, Longitude: 13.4132}
	// Spandau, about 15 km west.
	spandau = &typev1.GeoPoint{Latitude: 52.5351, Longitude: 13.1974}
)

func rideQuote(pickup *typev1.GeoPoint) *farev1.QuoteRideRequest {
	return &farev1.QuoteRideRequest{
		City: "berlin", Product: "standard", Pickup: pickup, Dropoff: spandau,
		EstimatedDistanceMeters: 12345, EstimatedDurationSeconds: 1050,
	}
}

func (h *harness) setSurge(t *testing.T, s *farev1.Surge) *farev1.Surge {
	t.Helper()
	resp, err := h.operator.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{Surge: s})
	if err != nil {
		t.Fatalf("SetSurge: %v", err)
	}
	return resp.GetSurge()
}

func TestQuoteRide(t *testing.T) {
	t.Parallel()
	h := start(t)
	card := h.create(t, rideCard())

	quote := func(pickup *typev1.GeoPoint) *farev1.Quote {
		t.Helper()
		resp, err := h.customer.QuoteRide(grpctest.Context(t), rideQuote(pickup))
		if err != nil {
			t.Fatal(err)
		}
		q := resp.GetQuote()
		var sum int64
		for _, l := range q.GetLines() {
			sum += l.GetAmount().GetAmountMinor()
		}
		if sum != q.GetPrice().GetAmountMinor() {
			t.Fatalf("lines %v sum to %d, price %d", q.GetLines(), sum, q.GetPrice().GetAmountMinor())
		}
		return q
	}

	// No surge anywhere: 300 + 1852 + 525 = 2677.
	q := quote(alexanderplatz)
	if q.GetPrice().GetAmountMinor() != 2677 || q.GetMultiplierBps() != 10000 || q.GetSurgeZone() != "" ||
		q.GetRateCardId() != card.GetId() || q.GetRateVersion() != 1 || q.GetQuantity() != 1 || q.GetNights() != 1 ||
		q.GetUnitPrice() != nil || q.GetLoadFactorBps() != 0 || q.GetDistanceMeters() != 12345 || q.GetDurationSeconds() != 1050 {
		t.Fatalf("quote without surge = %v", q)
	}
	if d := q.GetValidUntil().AsTime().Sub(q.GetCreateTime().AsTime()); d != 5*time.Minute {
		t.Fatalf("valid for %v, want 5m", d)
	}
	if !proto.Equal(q.GetProductKey(), rideKey()) {
		t.Fatalf("product key %v", q.GetProductKey())
	}

	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "default", MultiplierBps: 12000})
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "mitte", MultiplierBps: 20000, Center: alexanderplatz, RadiusMeters: 2000})
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "alex", MultiplierBps: 15000, Center: alexanderplatz, RadiusMeters: 300})
	h.setSurge(t, &farev1.Surge{City: "hamburg", Zone: "default", MultiplierBps: 30000})
	for _, tc := range []struct {
		name   string
		pickup *typev1.GeoPoint
		zone   string
		mult   int32
		price  int64
	}{
		{"smallest zone wins", alexanderplatz, "alex", 15000, 4016}, // 4015.5
		{"enclosing zone", nearAlex, "mitte", 20000, 5354},
		{"city-wide zone", spandau, "default", 12000, 3212}, // 3212.4
	} {
		q := quote(tc.pickup)
		if q.GetSurgeZone() != tc.zone || q.GetMultiplierBps() != tc.mult || q.GetPrice().GetAmountMinor() != tc.price {
			t.Errorf("%s: zone %q multiplier %d price %d, want %q %d %d", tc.name, q.GetSurgeZone(), q.GetMultiplierBps(), q.GetPrice().GetAmountMinor(), tc.zone, tc.mult, tc.price)
		}
	}
	// A surge above the card's 3.0x bound is capped; ending a surge (10000) is 1.0x.
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "mitte", MultiplierBps: 50000, Center: alexanderplatz, RadiusMeters: 2000})
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "alex", MultiplierBps: 10000, Center: alexanderplatz, RadiusMeters: 300})
	if q := quote(nearAlex); q.GetMultiplierBps() != 30000 || q.GetPrice().GetAmountMinor() != 8031 {
		t.Errorf("capped: multiplier %d price %d, want 30000 and 8031", q.GetMultiplierBps(), q.GetPrice().GetAmountMinor())
	}
	if q := quote(alexanderplatz); q.GetMultiplierBps() != 10000 || q.GetSurgeZone() != "alex" || q.GetPrice().GetAmountMinor() != 2677 {
		t.Errorf("ended: zone %q multiplier %d price %d", q.GetSurgeZone(), q.GetMultiplierBps(), q.GetPrice().GetAmountMinor())
	}

	// A short ride is topped up to the minimum fare.
	short := rideQuote(spandau)
	short.EstimatedDistanceMeters, short.EstimatedDurationSeconds = 500, 60
	resp, err := h.customer.QuoteRide(grpctest.Context(t), short)
	if err != nil {
		t.Fatal(err)
	}
	if q := resp.GetQuote(); q.GetPrice().GetAmountMinor() != 800 || q.GetLines()[len(q.GetLines())-1].GetCode() != "minimum_fare" {
		t.Fatalf("short ride = %v, want the minimum fare 800", q)
	}

	// No card for the product.
	xl := rideQuote(spandau)
	xl.Product = "xl"
	_, err = h.customer.QuoteRide(grpctest.Context(t), xl)
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = h.anon.QuoteRide(grpctest.Context(t), rideQuote(spandau))
	grpctest.WantCode(t, err, codes.Unauthenticated)
}

func TestQuoteRideBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, rideCard())
	mod := func(f func(r *farev1.QuoteRideRequest)) *farev1.QuoteRideRequest {
		r := rideQuote(spandau)
		f(r)
		return r
	}
	for _, tc := range []struct {
		name  string
		req   *farev1.QuoteRideRequest
		field string
	}{
		{"no city", mod(func(r *farev1.QuoteRideRequest) { r.City = "" }), "city"},
		{"bad city", mod(func(r *farev1.QuoteRideRequest) { r.City = "Berlin City" }), "city"},
		{"no product", mod(func(r *farev1.QuoteRideRequest) { r.Product = "" }), "product"},
		{"no pickup", mod(func(r *farev1.QuoteRideRequest) { r.Pickup = nil }), "pickup"},
		{"bad latitude", mod(func(r *farev1.QuoteRideRequest) { r.Pickup = &typev1.GeoPoint{Latitude: 91} }), "pickup.latitude"},
		{"NaN longitude", mod(func(r *farev1.QuoteRideRequest) { r.Dropoff = &typev1.GeoPoint{Longitude: math.NaN()} }), "dropoff.longitude"},
		{"no dropoff", mod(func(r *farev1.QuoteRideRequest) { r.Dropoff = nil }), "dropoff"},
		{"zero distance", mod(func(r *farev1.QuoteRideRequest) { r.EstimatedDistanceMeters = 0 }), "estimated_distance_meters"},
		{"negative distance", mod(func(r *farev1.QuoteRideRequest) { r.EstimatedDistanceMeters = -5 }), "estimated_distance_meters"},
		{"huge distance", mod(func(r *farev1.QuoteRideRequest) { r.EstimatedDistanceMeters = 1_000_001 }), "estimated_distance_meters"},
		{"zero duration", mod(func(r *farev1.QuoteRideRequest) { r.EstimatedDurationSeconds = 0 }), "estimated_duration_seconds"},
		{"over a day", mod(func(r *farev1.QuoteRideRequest) { r.EstimatedDurationSeconds = 86401 }), "estimated_duration_seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.customer.QuoteRide(grpctest.Context(t), tc.req)
			grpctest.WantField(t, err, tc.field)
		})
	}
	if n := h.count(t, "quote"); n != 0 {
		t.Fatalf("%d quotes stored by bad requests, want 0", n)
	}
}

func TestSurges(t *testing.T) {
	t.Parallel()
	h := start(t)
	expire := time.Now().Add(time.Hour).Add(999 * time.Nanosecond)
	v1 := h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "mitte", MultiplierBps: 15000, Center: alexanderplatz, RadiusMeters: 2000,
		ExpireTime: timestamp(expire), Reason: "concert ends", Actor: "ignored", Version: 0})
	if v1.GetVersion() != 1 || v1.GetActor() != "ops-anna" || !v1.GetExpireTime().AsTime().Equal(expire.Truncate(time.Microsecond)) ||
		!proto.Equal(v1.GetCreateTime(), v1.GetUpdateTime()) || v1.GetReason() != "concert ends" {
		t.Fatalf("first set = %v", v1)
	}
	got, err := h.customer.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{City: "berlin", Zone: "mitte"})
	if err != nil || !proto.Equal(got.GetSurge(), v1) {
		t.Fatalf("GetSurge = %v, %v; want %v", got.GetSurge(), err, v1)
	}

	// A service (a demand controller) may set surges; versions must match.
	resp, err := h.service.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{RequestId: "s-2", Surge: &farev1.Surge{
		City: "berlin", Zone: "mitte", MultiplierBps: 17500, Center: alexanderplatz, RadiusMeters: 2000, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	v2 := resp.GetSurge()
	if v2.GetVersion() != 2 || v2.GetActor() != "booking" || !proto.Equal(v2.GetCreateTime(), v1.GetCreateTime()) || v2.GetExpireTime() != nil {
		t.Fatalf("second set = %v", v2)
	}
	_, err = h.operator.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{Surge: &farev1.Surge{
		City: "berlin", Zone: "mitte", MultiplierBps: 19000, Center: alexanderplatz, RadiusMeters: 2000, Version: 1}})
	grpctest.WantReason(t, err, codes.Aborted, fare.ReasonStaleVersion)
	_, err = h.operator.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{Surge: &farev1.Surge{City: "berlin", Zone: "new", MultiplierBps: 19000, Center: alexanderplatz, RadiusMeters: 200, Version: 3}})
	grpctest.WantReason(t, err, codes.Aborted, fare.ReasonStaleVersion)
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "mitte", MultiplierBps: 10000, Center: alexanderplatz, RadiusMeters: 2000})
	// A retry of the second call returns what it set, even after a later change.
	again, err := h.service.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{RequestId: "s-2", Surge: &farev1.Surge{
		City: "berlin", Zone: "mitte", MultiplierBps: 17500, Center: alexanderplatz, RadiusMeters: 2000, Version: 1}})
	if err != nil || !proto.Equal(again.GetSurge(), v2) {
		t.Fatalf("retry = %v, %v; want %v", again.GetSurge(), err, v2)
	}
	// The same request id with another surge is refused.
	_, err = h.service.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{RequestId: "s-2", Surge: &farev1.Surge{
		City: "berlin", Zone: "mitte", MultiplierBps: 20000, Center: alexanderplatz, RadiusMeters: 2000, Version: 1}})
	grpctest.WantReason(t, err, codes.InvalidArgument, idempotency.ReasonRequestIDReused)
	cur, err := h.customer.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{City: "berlin", Zone: "mitte"})
	if err != nil || cur.GetSurge().GetVersion() != 3 || cur.GetSurge().GetMultiplierBps() != 10000 {
		t.Fatalf("current = %v, %v; want version 3 at 10000", cur.GetSurge(), err)
	}

	// Listing, by zone id, a page at a time; other cities stay out.
	for _, z := range []string{"b-zone", "a-zone", "default"} {
		s := &farev1.Surge{City: "berlin", Zone: z, MultiplierBps: 11000, Center: spandau, RadiusMeters: 500}
		if z == "default" {
			s.Center, s.RadiusMeters = nil, 0
		}
		h.setSurge(t, s)
	}
	h.setSurge(t, &farev1.Surge{City: "hamburg", Zone: "default", MultiplierBps: 11000})
	var zones []string
	token := ""
	for range 10 {
		resp, err := h.customer.ListSurges(grpctest.Context(t), &farev1.ListSurgesRequest{City: "berlin", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.GetSurges() {
			zones = append(zones, s.GetZone())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{"a-zone", "b-zone", "default", "mitte"}; len(zones) != len(want) || zones[0] != want[0] || zones[1] != want[1] || zones[2] != want[2] || zones[3] != want[3] {
		t.Fatalf("zones %v, want %v", zones, want)
	}

	_, err = h.customer.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{City: "berlin", Zone: "never"})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = h.customer.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{Surge: &farev1.Surge{City: "berlin", Zone: "default", MultiplierBps: 20000}})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.anon.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{City: "berlin", Zone: "default"})
	grpctest.WantCode(t, err, codes.Unauthenticated)
}

func TestSurgeBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	zone := func(f func(s *farev1.Surge)) *farev1.Surge {
		s := &farev1.Surge{City: "berlin", Zone: "mitte", MultiplierBps: 15000, Center: alexanderplatz, RadiusMeters: 2000}
		f(s)
		return s
	}
	long := make([]byte, 501)
	for i := range long {
		long[i] = 'x'
	}
	for _, tc := range []struct {
		name  string
		surge *farev1.Surge
		reqID string
		field string
	}{
		{"no surge", nil, "", "surge"},
		{"no city", zone(func(s *farev1.Surge) { s.City = "" }), "", "surge.city"},
		{"no zone", zone(func(s *farev1.Surge) { s.Zone = "" }), "", "surge.zone"},
		{"upper-case zone", zone(func(s *farev1.Surge) { s.Zone = "Mitte" }), "", "surge.zone"},
		{"below 1.0x", zone(func(s *farev1.Surge) { s.MultiplierBps = 9999 }), "", "surge.multiplier_bps"},
		{"above 10x", zone(func(s *farev1.Surge) { s.MultiplierBps = 100001 }), "", "surge.multiplier_bps"},
		{"no center", zone(func(s *farev1.Surge) { s.Center = nil }), "", "surge.center"},
		{"bad center", zone(func(s *farev1.Surge) { s.Center = &typev1.GeoPoint{Latitude: 10, Longitude: 181} }), "", "surge.center.longitude"},
		{"small radius", zone(func(s *farev1.Surge) { s.RadiusMeters = 99 }), "", "surge.radius_meters"},
		{"large radius", zone(func(s *farev1.Surge) { s.RadiusMeters = 50001 }), "", "surge.radius_meters"},
		{"default with center", zone(func(s *farev1.Surge) { s.Zone = "default"; s.RadiusMeters = 0 }), "", "surge.center"},
		{"default with radius", zone(func(s *farev1.Surge) { s.Zone = "default"; s.Center = nil }), "", "surge.radius_meters"},
		{"past expiry", zone(func(s *farev1.Surge) { s.ExpireTime = timestamp(time.Now().Add(-time.Minute)) }), "", "surge.expire_time"},
		{"long reason", zone(func(s *farev1.Surge) { s.Reason = string(long) }), "", "surge.reason"},
		{"negative version", zone(func(s *farev1.Surge) { s.Version = -1 }), "", "surge.version"},
		{"long request id", zone(func(s *farev1.Surge) {}), string(long[:129]), "request_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.operator.SetSurge(grpctest.Context(t), &farev1.SetSurgeRequest{Surge: tc.surge, RequestId: tc.reqID})
			grpctest.WantField(t, err, tc.field)
		})
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"get without city", func() error {
			_, err := h.customer.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{Zone: "default"})
			return err
		}, "city"},
		{"get without zone", func() error {
			_, err := h.customer.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{City: "berlin"})
			return err
		}, "zone"},
		{"list without city", func() error {
			_, err := h.customer.ListSurges(grpctest.Context(t), &farev1.ListSurgesRequest{})
			return err
		}, "city"},
		{"list negative page size", func() error {
			_, err := h.customer.ListSurges(grpctest.Context(t), &farev1.ListSurgesRequest{City: "berlin", PageSize: -1})
			return err
		}, "page_size"},
		{"list bad token", func() error {
			_, err := h.customer.ListSurges(grpctest.Context(t), &farev1.ListSurgesRequest{City: "berlin", PageToken: "Y2FyZDp4"}) // "card:x"
			return err
		}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) { grpctest.WantField(t, tc.call(), tc.field) })
	}
	if n := h.count(t, "surge_history"); n != 0 {
		t.Fatalf("bad requests wrote %d surges", n)
	}
}
