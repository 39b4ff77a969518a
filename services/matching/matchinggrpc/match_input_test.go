package matchinggrpc_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/matching/matching"
)

// TestMatchBadInput: every invalid field of every match and offer method is
// INVALID_ARGUMENT naming it, and nothing is written: no match, offer or idempotency key
// appears and the existing match, offer and driver are unchanged.
func TestMatchBadInput(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	ctx := grpctest.Context(t)
	d := h.driverAt(t, north(berlin, 100))
	m := h.createMatch(t, matchReq(10*time.Second))
	o := h.waitOffer(t, m.GetId(), d.GetId())
	before := h.getMatch(t, m.GetId())
	driverBefore := h.driver(t, d.GetId())
	rows := func() [3]int { return [3]int{h.count(t, "match"), h.count(t, "offer"), h.count(t, "idempotency_keys")} }
	want := rows()

	long := strings.Repeat("a", 201)
	longID := strings.Repeat("r", 65)
	create := func(edit func(r *matchingv1.CreateMatchRequest)) error {
		r := matchReq(10 * time.Second)
		edit(r)
		_, err := h.service.CreateMatch(ctx, r)
		return err
	}
	creates := []struct {
		field string
		edit  func(r *matchingv1.CreateMatchRequest)
	}{
		{"trip_id", func(r *matchingv1.CreateMatchRequest) { r.TripId = "" }},
		{"trip_id", func(r *matchingv1.CreateMatchRequest) { r.TripId = strings.Repeat("t", 129) }},
		{"trip_id", func(r *matchingv1.CreateMatchRequest) { r.TripId = "trip\x00" }},
		{"pickup", func(r *matchingv1.CreateMatchRequest) { r.Pickup = nil }},
		{"pickup.latitude", func(r *matchingv1.CreateMatchRequest) { r.Pickup = &typev1.GeoPoint{Latitude: 90.5} }},
		{"pickup.latitude", func(r *matchingv1.CreateMatchRequest) { r.Pickup = &typev1.GeoPoint{Latitude: math.NaN()} }},
		{"pickup.longitude", func(r *matchingv1.CreateMatchRequest) { r.Pickup = &typev1.GeoPoint{Longitude: -180.5} }},
		{"product", func(r *matchingv1.CreateMatchRequest) { r.Product = "" }},
		{"product", func(r *matchingv1.CreateMatchRequest) { r.Product = "Standard" }},
		{"offer_timeout", func(r *matchingv1.CreateMatchRequest) { r.OfferTimeout = durationpb.New(10 * time.Millisecond) }},
		{"offer_timeout", func(r *matchingv1.CreateMatchRequest) { r.OfferTimeout = durationpb.New(121 * time.Second) }},
		{"offer_timeout", func(r *matchingv1.CreateMatchRequest) { r.OfferTimeout = &durationpb.Duration{Seconds: 10, Nanos: -1} }},
		{"max_attempts", func(r *matchingv1.CreateMatchRequest) { r.MaxAttempts = -1 }},
		{"max_attempts", func(r *matchingv1.CreateMatchRequest) { r.MaxAttempts = 11 }},
		{"search_radius_meters", func(r *matchingv1.CreateMatchRequest) { r.SearchRadiusMeters = -1 }},
		{"search_radius_meters", func(r *matchingv1.CreateMatchRequest) { r.SearchRadiusMeters = 50_001 }},
		{"fan_out", func(r *matchingv1.CreateMatchRequest) { r.FanOut = -1 }},
		{"fan_out", func(r *matchingv1.CreateMatchRequest) { r.FanOut = 6 }},
		{"driver_id", func(r *matchingv1.CreateMatchRequest) { r.DriverId = "drv-1" }},
		{"request_id", func(r *matchingv1.CreateMatchRequest) { r.RequestId = longID }},
		{"request_id", func(r *matchingv1.CreateMatchRequest) { r.RequestId = "r\n" }},
	}
	for _, c := range creates {
		grpctest.WantField(t, create(c.edit), c.field)
	}

	type call struct {
		name, field string
		run         func() error
	}
	calls := []call{
		{"GetMatch", "match_id", func() error {
			_, err := h.service.GetMatch(ctx, &matchingv1.GetMatchRequest{})
			return err
		}},
		{"GetMatch", "match_id", func() error {
			_, err := h.service.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: "m-1"})
			return err
		}},
		{"GetMatch", "view", func() error {
			_, err := h.service.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: m.GetId(), View: 9})
			return err
		}},
		{"CancelMatch", "match_id", func() error {
			_, err := h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{})
			return err
		}},
		{"CancelMatch", "reason", func() error {
			_, err := h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: m.GetId(), Reason: long})
			return err
		}},
		{"CancelMatch", "request_id", func() error {
			_, err := h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: m.GetId(), RequestId: longID})
			return err
		}},
		{"SetMatchSubStatus", "match_id", func() error {
			_, err := h.service.SetMatchSubStatus(ctx, &matchingv1.SetMatchSubStatusRequest{SubStatus: "x"})
			return err
		}},
		{"SetMatchSubStatus", "sub_status", func() error {
			_, err := h.service.SetMatchSubStatus(ctx, &matchingv1.SetMatchSubStatusRequest{MatchId: m.GetId(), SubStatus: "Manual!"})
			return err
		}},
		{"SetMatchSubStatus", "sub_status", func() error {
			_, err := h.service.SetMatchSubStatus(ctx, &matchingv1.SetMatchSubStatusRequest{MatchId: m.GetId(), SubStatus: strings.Repeat("s", 65)})
			return err
		}},
		{"SetMatchSubStatus", "request_id", func() error {
			_, err := h.service.SetMatchSubStatus(ctx, &matchingv1.SetMatchSubStatusRequest{MatchId: m.GetId(), SubStatus: "x", RequestId: longID})
			return err
		}},
		{"AcceptOffer", "offer_id", func() error {
			_, err := h.as(d.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{})
			return err
		}},
		{"AcceptOffer", "offer_id", func() error {
			_, err := h.as(d.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: "o-1"})
			return err
		}},
		{"AcceptOffer", "request_id", func() error {
			_, err := h.as(d.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId(), RequestId: longID})
			return err
		}},
		{"DeclineOffer", "offer_id", func() error {
			_, err := h.as(d.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{})
			return err
		}},
		{"DeclineOffer", "reason", func() error {
			_, err := h.as(d.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o.GetId(), Reason: long})
			return err
		}},
		{"DeclineOffer", "request_id", func() error {
			_, err := h.as(d.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o.GetId(), RequestId: longID})
			return err
		}},
		{"ReleaseDriver", "driver_id", func() error {
			_, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{TripId: m.GetTripId()})
			return err
		}},
		{"ReleaseDriver", "trip_id", func() error {
			_, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: d.GetId()})
			return err
		}},
		{"ReleaseDriver", "reason", func() error {
			_, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: d.GetId(), TripId: m.GetTripId(), Reason: long})
			return err
		}},
		{"ReleaseDriver", "request_id", func() error {
			_, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: d.GetId(), TripId: m.GetTripId(), RequestId: longID})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name+"/"+c.field, func(t *testing.T) { grpctest.WantField(t, c.run(), c.field) })
	}
	if got := rows(); got != want {
		t.Fatalf("rows (match, offer, idempotency_keys) = %v, want %v", got, want)
	}
	if after := h.getMatch(t, m.GetId()); !proto.Equal(after, before) {
		t.Fatalf("match after bad calls %v, want %v", after, before)
	}
	if after := h.driver(t, d.GetId()); after.GetVersion() != driverBefore.GetVersion() {
		t.Fatalf("driver after bad calls %v, want %v", after, driverBefore)
	}
	// Unknown ids are NOT_FOUND.
	_, err := h.service.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: ids.New()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: ids.New()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = h.service.AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: ids.New()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: ids.New(), TripId: "t"})
	grpctest.WantCode(t, err, codes.NotFound)
	// Drivers and riders may not create or read matches.
	_, err = h.as(d.GetId()).CreateMatch(ctx, matchReq(10*time.Second))
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.customer.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: m.GetId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)
}

// TestManualDispatchAndSubStatus: a match with driver_id offers the ride to that
// driver only, once (max_attempts and fan_out 1), wherever they are; a driver who is
// not AVAILABLE, has no fresh location or lacks the product is refused; an unknown one
// is NOT_FOUND. SetMatchSubStatus sets and clears the sub-status, idempotently.
func TestManualDispatchAndSubStatus(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	ctx := grpctest.Context(t)
	nearer := h.driverAt(t, north(berlin, 50))
	chosen := h.driverAt(t, north(berlin, 20_000)) // beyond any default radius
	req := matchReq(300 * time.Millisecond)
	req.DriverId, req.MaxAttempts, req.FanOut, req.SearchRadiusMeters = chosen.GetId(), 11, 9, -1 // ignored, even out of range
	m := h.createMatch(t, req)
	if m.GetMaxAttempts() != 1 || m.GetFanOut() != 1 || m.GetSearchRadiusMeters() != 0 || m.GetRequestedDriverId() != chosen.GetId() {
		t.Fatalf("manual match %v", m)
	}
	end := h.waitMatch(t, m.GetId(), "FAILED", func(m *matchingv1.Match) bool { return m.GetStatus() == failed })
	if len(end.GetOffers()) != 1 || end.GetOffers()[0].GetDriverId() != chosen.GetId() ||
		end.GetFailureReason() != matchingv1.MatchFailureReason_MATCH_FAILURE_REASON_ATTEMPTS_EXHAUSTED {
		t.Fatalf("manual match after its one offer %v", end)
	}
	h.wantDriver(t, nearer.GetId(), available, "")

	stale := h.online(t) // never located
	xl := h.driverAt(t, north(berlin, 10), "xl")
	off := h.create(t, newDriver())
	for _, c := range []struct {
		driver, reason string
	}{{stale.GetId(), matching.ReasonDriverLocationStale}, {xl.GetId(), matching.ReasonProductNotServed}, {off.GetId(), matching.ReasonDriverNotAvailable}} {
		r := matchReq(time.Second)
		r.DriverId = c.driver
		_, err := h.service.CreateMatch(ctx, r)
		grpctest.WantReason(t, err, codes.FailedPrecondition, c.reason)
	}
	r := matchReq(time.Second)
	r.DriverId = ids.New()
	_, err := h.service.CreateMatch(ctx, r)
	grpctest.WantCode(t, err, codes.NotFound)

	set := func(sub, requestID string) *matchingv1.Match {
		t.Helper()
		resp, err := h.operator.SetMatchSubStatus(ctx, &matchingv1.SetMatchSubStatusRequest{MatchId: m.GetId(), SubStatus: sub, RequestId: requestID})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetMatch()
	}
	s1 := set("manual_dispatch_requested", "s-1")
	if s1.GetSubStatus() != "manual_dispatch_requested" || s1.GetVersion() != end.GetVersion()+1 || s1.GetStatus() != failed {
		t.Fatalf("sub-status set %v", s1)
	}
	if again := set("manual_dispatch_requested", "s-1"); !proto.Equal(again, s1) {
		t.Fatalf("replay %v", again)
	}
	_, err = h.operator.SetMatchSubStatus(ctx, &matchingv1.SetMatchSubStatusRequest{MatchId: m.GetId(), SubStatus: "other", RequestId: "s-1"})
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	if cleared := set("", ""); cleared.GetSubStatus() != "" || cleared.GetVersion() != s1.GetVersion()+1 {
		t.Fatalf("cleared %v", cleared)
	}
}
