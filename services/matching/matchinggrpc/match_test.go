package matchinggrpc_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/matching/matching"
)

const (
	searching = matchingv1.MatchStatus_MATCH_STATUS_SEARCHING
	offered   = matchingv1.MatchStatus_MATCH_STATUS_OFFERED
	assigned  = matchingv1.MatchStatus_MATCH_STATUS_ASSIGNED
	failed    = matchingv1.MatchStatus_MATCH_STATUS_FAILED
	cancelled = matchingv1.MatchStatus_MATCH_STATUS_CANCELLED

	available = matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE
	onOffer   = matchingv1.DriverStatus_DRIVER_STATUS_OFFERED
	onTrip    = matchingv1.DriverStatus_DRIVER_STATUS_ON_TRIP
)

// TestMatchAcceptAndRelease: a match is created SEARCHING (idempotently; one active match
// per trip), offers the ride to the nearest driver (OFFERED), who accepts (ASSIGNED,
// ON_TRIP, matching.driver.assigned), and is released (AVAILABLE,
// matching.driver.released; a second release changes nothing).
func TestMatchAcceptAndRelease(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	ctx := grpctest.Context(t)
	events := h.events(t)
	near := h.driverAt(t, north(berlin, 300))
	far := h.driverAt(t, north(berlin, 800))

	req := matchReq(10 * time.Second)
	req.RequestId = "match-1"
	m := h.createMatch(t, req)
	if m.GetStatus() != searching || m.GetVersion() != 1 || m.GetAttemptCount() != 0 || m.GetMaxAttempts() != 3 ||
		m.GetFanOut() != 1 || m.GetSearchRadiusMeters() != 3000 || m.GetOfferTimeout().AsDuration() != 10*time.Second ||
		m.GetTripId() != req.GetTripId() || m.GetProduct() != "standard" || len(m.GetOffers()) != 0 {
		t.Fatalf("created %v", m)
	}
	if again := h.createMatch(t, req); !proto.Equal(again, m) {
		t.Fatalf("replay = %v, want %v", again, m)
	}
	req.RequestId = "match-2"
	_, err := h.service.CreateMatch(ctx, req)
	grpctest.WantReason(t, err, codes.AlreadyExists, matching.ReasonTripHasMatch)

	o := h.waitOffer(t, m.GetId(), near.GetId())
	if o.GetAttempt() != 1 || o.GetTripId() != req.GetTripId() || o.GetDistanceMeters() < 290 || o.GetDistanceMeters() > 310 ||
		o.GetEtaSeconds() <= 0 || !o.GetExpireTime().AsTime().After(time.Now()) {
		t.Fatalf("offer %v", o)
	}
	h.wantDriver(t, near.GetId(), onOffer, m.GetId())
	h.wantDriver(t, far.GetId(), available, "")

	_, err = h.as(far.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.customer.AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)

	acc, err := h.as(near.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId(), RequestId: "acc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if acc.GetOffer().GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_ACCEPTED || acc.GetMatch().GetStatus() != assigned ||
		acc.GetMatch().GetDriverId() != near.GetId() || acc.GetMatch().GetAssignTime() == nil {
		t.Fatalf("accepted %v", acc)
	}
	replay, err := h.as(near.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId(), RequestId: "acc-1"})
	if err != nil || !proto.Equal(replay, acc) {
		t.Fatalf("replayed accept = %v, %v", replay, err)
	}
	if again, err := h.as(near.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()}); err != nil ||
		again.GetOffer().GetVersion() != acc.GetOffer().GetVersion() {
		t.Fatalf("accepting again = %v, %v; want it unchanged", again, err)
	}
	_, err = h.as(near.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonOfferAccepted)
	onRide := h.wantDriver(t, near.GetId(), onTrip, m.GetId())
	if onRide.GetCurrentTripId() != req.GetTripId() {
		t.Fatalf("driver on trip %q", onRide.GetCurrentTripId())
	}
	var asg matchingv1.DriverAssignedEvent
	events.next(matching.EventTypeDriverAssigned, req.GetTripId(), &asg)
	if asg.GetMatch().GetStatus() != assigned || len(asg.GetMatch().GetOffers()) != 1 || asg.GetDriver().GetStatus() != onTrip ||
		asg.GetOffer().GetId() != o.GetId() || asg.GetOffer().GetDistanceMeters() != o.GetDistanceMeters() {
		t.Fatalf("assigned event %v", &asg)
	}
	// The driver on a ride is not searched.
	found, err := h.service.SearchNearbyDrivers(ctx, &matchingv1.SearchNearbyDriversRequest{Pickup: berlin})
	if err != nil || len(found.GetDrivers()) != 1 || found.GetDrivers()[0].GetDriver().GetId() != far.GetId() {
		t.Fatalf("search = %v, %v", found, err)
	}
	// A driver cannot go offline on a ride.
	_, err = h.as(near.GetId()).SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: near.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonDriverBusy)

	// Release: AVAILABLE again, once.
	_, err = h.as(near.GetId()).ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: near.GetId(), TripId: req.GetTripId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	rel, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: near.GetId(), TripId: req.GetTripId(), Reason: "trip_ended", RequestId: "rel-1"})
	if err != nil || rel.GetDriver().GetStatus() != available || rel.GetDriver().GetCurrentMatchId() != "" || rel.GetDriver().GetCurrentTripId() != "" {
		t.Fatalf("release = %v, %v", rel, err)
	}
	if again, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: near.GetId(), TripId: req.GetTripId(), Reason: "trip_ended"}); err != nil ||
		again.GetDriver().GetVersion() != rel.GetDriver().GetVersion() {
		t.Fatalf("second release = %v, %v; want no change", again, err)
	}
	if replay, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: near.GetId(), TripId: req.GetTripId(), Reason: "trip_ended", RequestId: "rel-1"}); err != nil ||
		!proto.Equal(replay.GetDriver(), rel.GetDriver()) {
		t.Fatalf("replayed release = %v, %v", replay, err)
	}
	var relEv matchingv1.DriverReleasedEvent
	events.next(matching.EventTypeDriverReleased, req.GetTripId(), &relEv)
	if relEv.GetDriver().GetStatus() != available || relEv.GetMatchId() != m.GetId() || relEv.GetTripId() != req.GetTripId() || relEv.GetReason() != "trip_ended" {
		t.Fatalf("released event %v", &relEv)
	}
	if got := h.getMatch(t, m.GetId()); got.GetStatus() != assigned || got.GetDriverId() != near.GetId() {
		t.Fatalf("match after release %v", got)
	}
	// The trip's match is still ASSIGNED, so the trip has its match; and the released
	// driver is searchable again.
	grpctest.Eventually(t, 5*time.Second, "the released driver searchable", func() bool {
		found, err := h.service.SearchNearbyDrivers(ctx, &matchingv1.SearchNearbyDriversRequest{Pickup: berlin})
		return err == nil && len(found.GetDrivers()) == 2
	})
}

// TestOfferTimeoutMovesOn: an offer nobody answers expires (the driver AVAILABLE again,
// a late accept OFFER_EXPIRED) and the next attempt offers the next driver; a declined
// driver is not offered the match again; with everyone offered once, the last attempt
// finds no one and the match fails ATTEMPTS_EXHAUSTED with matching.match.failed.
func TestOfferTimeoutMovesOn(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	ctx := grpctest.Context(t)
	events := h.events(t)
	first := h.driverAt(t, north(berlin, 200))
	second := h.driverAt(t, north(berlin, 900))
	req := matchReq(slowdown * time.Second)
	m := h.createMatch(t, req)

	o1 := h.waitOffer(t, m.GetId(), first.GetId())
	o2 := h.waitOffer(t, m.GetId(), second.GetId()) // after o1 expired
	dec, err := h.as(second.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o2.GetId(), Reason: "too_far", RequestId: "dec-1"})
	if err != nil || dec.GetOffer().GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_DECLINED || dec.GetOffer().GetDeclineReason() != "too_far" {
		t.Fatalf("decline = %v, %v", dec, err)
	}
	if o2.GetAttempt() != 2 {
		t.Fatalf("second offer %v", o2)
	}
	got := h.getMatch(t, m.GetId())
	if got.GetOffers()[0].GetId() != o1.GetId() || got.GetOffers()[0].GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_EXPIRED ||
		got.GetOffers()[0].GetResolveTime() == nil || got.GetAttemptCount() < 2 {
		t.Fatalf("match after the first expiry %v", got)
	}
	h.wantDriver(t, first.GetId(), available, "")
	_, err = h.as(first.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o1.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonOfferExpired)
	if again, err := h.as(second.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o2.GetId()}); err != nil || !proto.Equal(again.GetOffer(), dec.GetOffer()) {
		t.Fatalf("declining again = %v, %v; want it unchanged", again, err)
	}
	_, err = h.as(second.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o2.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonOfferDeclined)
	h.wantDriver(t, second.GetId(), available, "")

	end := h.waitMatch(t, m.GetId(), "the match FAILED", func(m *matchingv1.Match) bool { return m.GetStatus() == failed })
	if end.GetFailureReason() != matchingv1.MatchFailureReason_MATCH_FAILURE_REASON_ATTEMPTS_EXHAUSTED || end.GetAttemptCount() != 3 ||
		len(end.GetOffers()) != 2 {
		t.Fatalf("failed match %v", end)
	}
	var ev matchingv1.MatchFailedEvent
	events.next(matching.EventTypeMatchFailed, req.GetTripId(), &ev)
	if !proto.Equal(ev.GetMatch(), end) {
		t.Fatalf("failed event %v, want %v", ev.GetMatch(), end)
	}
	// A failed match does not hold the trip: a new one may start.
	if again := h.createMatch(t, &matchingv1.CreateMatchRequest{TripId: req.GetTripId(), Pickup: berlin, Product: "standard"}); again.GetId() == m.GetId() {
		t.Fatal("the failed match came back")
	}
	_, err = h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: m.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonMatchFailed)
}

// TestWidenThenFail: attempt n searches within n × the initial radius: a driver 4 km
// away is beyond three attempts of 1 km (the match fails NO_DRIVERS, never offering
// anyone) and is reached by the fourth attempt of another match.
func TestWidenThenFail(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	d := h.driverAt(t, north(berlin, 3500))
	req := matchReq(100 * time.Millisecond)
	req.SearchRadiusMeters = 1000
	m := h.createMatch(t, req)
	end := h.waitMatch(t, m.GetId(), "FAILED", func(m *matchingv1.Match) bool { return m.GetStatus() == failed })
	if end.GetFailureReason() != matchingv1.MatchFailureReason_MATCH_FAILURE_REASON_NO_DRIVERS || end.GetAttemptCount() != 3 ||
		end.GetSearchRadiusMeters() != 3000 || len(end.GetOffers()) != 0 {
		t.Fatalf("failed match %v", end)
	}
	req = matchReq(100 * time.Millisecond)
	req.SearchRadiusMeters, req.MaxAttempts = 1000, 5
	m = h.createMatch(t, req)
	end = h.waitMatch(t, m.GetId(), "FAILED", func(m *matchingv1.Match) bool { return m.GetStatus() == failed })
	if len(end.GetOffers()) != 1 || end.GetOffers()[0].GetDriverId() != d.GetId() || end.GetOffers()[0].GetAttempt() != 4 ||
		end.GetSearchRadiusMeters() != 5000 || end.GetFailureReason() != matchingv1.MatchFailureReason_MATCH_FAILURE_REASON_ATTEMPTS_EXHAUSTED {
		t.Fatalf("the wider match %v", end)
	}
}

// TestCancelMatch: cancelling withdraws a SEARCHING or OFFERED match's pending offers
// (their drivers AVAILABLE again), releases an ASSIGNED match's driver (with
// matching.driver.released), returns a CANCELLED match unchanged (a retry replays) and
// refuses a FAILED one.
func TestCancelMatch(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	ctx := grpctest.Context(t)
	events := h.events(t)
	cancel := func(id, requestID string) *matchingv1.Match {
		t.Helper()
		resp, err := h.service.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: id, Reason: "trip_cancelled", RequestId: requestID})
		if err != nil {
			t.Fatalf("CancelMatch: %v", err)
		}
		if m := resp.GetMatch(); m.GetStatus() != cancelled || m.GetCancelReason() != "trip_cancelled" {
			t.Fatalf("cancelled %v", m)
		}
		return resp.GetMatch()
	}

	// SEARCHING: nobody around.
	far := matchReq(5 * time.Second)
	far.Pickup = north(berlin, 200_000)
	m := h.createMatch(t, far)
	c := cancel(m.GetId(), "c-1")
	if again := cancel(m.GetId(), "c-1"); !proto.Equal(again, c) {
		t.Fatalf("replay = %v, want %v", again, c)
	}
	if again := cancel(m.GetId(), ""); again.GetVersion() != c.GetVersion() {
		t.Fatalf("cancel again = %v; want it unchanged", again)
	}

	// OFFERED.
	d := h.driverAt(t, north(berlin, 100))
	m = h.createMatch(t, matchReq(5*time.Second))
	o := h.waitOffer(t, m.GetId(), d.GetId())
	cancel(m.GetId(), "")
	if got := h.getMatch(t, m.GetId()); got.GetOffers()[0].GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_WITHDRAWN {
		t.Fatalf("offer after cancel %v", got.GetOffers()[0])
	}
	h.wantDriver(t, d.GetId(), available, "")
	_, err := h.as(d.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonOfferWithdrawn)

	// ASSIGNED.
	req := matchReq(5 * time.Second)
	m = h.createMatch(t, req)
	o = h.waitOffer(t, m.GetId(), d.GetId())
	if _, err := h.as(d.GetId()).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()}); err != nil {
		t.Fatal(err)
	}
	c = cancel(m.GetId(), "")
	if c.GetDriverId() != d.GetId() {
		t.Fatalf("cancelled assigned match %v", c)
	}
	h.wantDriver(t, d.GetId(), available, "")
	var rel matchingv1.DriverReleasedEvent
	events.next(matching.EventTypeDriverReleased, req.GetTripId(), &rel)
	if rel.GetReason() != "match_cancelled" || rel.GetMatchId() != m.GetId() || rel.GetDriver().GetStatus() != available {
		t.Fatalf("released %v", &rel)
	}
	// A release after the cancel changes nothing.
	after, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: d.GetId(), TripId: req.GetTripId()})
	if err != nil || after.GetDriver().GetStatus() != available {
		t.Fatalf("release after cancel = %v, %v", after, err)
	}
	// Drivers may not cancel.
	_, err = h.as(d.GetId()).CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: m.GetId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)
}
