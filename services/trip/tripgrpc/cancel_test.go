package tripgrpc_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/trip/tripapp"
)

// TestMatchFailedCancelsTrip: with no driver anywhere, matching's search fails and trip
// applies matching.match.failed: the trip is CANCELLED by the system, "no_driver_found",
// and the rider may request again.
func TestMatchFailedCancelsTrip(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{trip: func(c *tripapp.Config) {
		c.Match.MaxAttempts, c.Match.OfferTimeout = 1, 100*time.Millisecond
	}})
	tr := m.request(t, "rider-lonely")
	got := m.waitStatus(t, tr.GetId(), tripv1.TripStatus_TRIP_STATUS_CANCELLED)
	c := got.GetCancellation()
	if c.GetActor() != tripv1.CancellationActor_CANCELLATION_ACTOR_SYSTEM || c.GetReason() != "no_driver_found" || got.GetSubStatus() != "" {
		t.Fatalf("cancellation = %v, sub-status %q", c, got.GetSubStatus())
	}
	if m.count(t, "matching_task") != 0 {
		t.Fatal("a failed match owes matching no call")
	}
	// Nothing is priced or billed for it.
	time.Sleep(time.Second)
	if fares, bills := m.billed(t, tr.GetId(), "rider-lonely"); fares != 0 || bills != 0 {
		t.Fatalf("a ride without a driver was priced %d times and billed %d times", fares, bills)
	}
	m.request(t, "rider-lonely") // the cancelled trip no longer blocks
}

// billed returns how many fares fare holds for trip id and how many of customer's bill
// items are that trip.
func (m *mesh) billed(t testing.TB, id, customer string) (fares, items int) {
	t.Helper()
	ctx := grpctest.Context(t)
	if err := m.fare.Pool.QueryRow(ctx, "SELECT count(*) FROM ride_fare WHERE trip_id = $1", id).Scan(&fares); err != nil {
		t.Fatal(err)
	}
	resp, err := m.billingAs(operator).ListBills(ctx, &billingv1.ListBillsRequest{CustomerId: customer})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range resp.GetBills() {
		for _, it := range b.GetItems() {
			if it.GetReservationId() == id {
				items++
			}
		}
	}
	return fares, items
}

// TestRiderCancels cancels a ride at each status: while REQUESTED (the match is
// cancelled in matching), DRIVER_ASSIGNED (the driver is released; with a fee only after
// the free window), and STARTED (riders and drivers may not; an operator may).
func TestRiderCancels(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{trip: func(c *tripapp.Config) { c.FreeCancelWindow = time.Hour }})
	ctx := grpctest.Context(t)
	cancel := func(as string, id string) *tripv1.Trip {
		t.Helper()
		resp, err := m.as(rider(as)).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: id, Reason: "rider_changed_mind", RequestId: "c-" + id})
		if err != nil {
			t.Fatalf("CancelTrip: %v", err)
		}
		return resp.GetTrip()
	}

	t.Run("requested", func(t *testing.T) {
		tr := m.request(t, "rider-a")
		got := cancel("rider-a", tr.GetId())
		if got.GetStatus() != tripv1.TripStatus_TRIP_STATUS_CANCELLED || got.GetCancellation().GetActor() != tripv1.CancellationActor_CANCELLATION_ACTOR_RIDER ||
			got.GetCancellation().GetActorId() != "rider-a" || got.GetSubStatus() != "" {
			t.Fatalf("cancelled = %v", got)
		}
		grpctest.Eventually(t, 30*time.Second, "match CANCELLED", func() bool {
			resp, err := m.matchingAs(service).GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: tr.GetMatchId()})
			return err == nil && resp.GetMatch().GetStatus() == matchingv1.MatchStatus_MATCH_STATUS_CANCELLED
		})
		// Cancelling again returns the trip unchanged.
		again, err := m.as(rider("rider-a")).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "again"})
		if err != nil || again.GetTrip().GetVersion() != got.GetVersion() {
			t.Fatalf("cancel again = %v, %v", again, err)
		}
	})

	t.Run("driver assigned, within the free window", func(t *testing.T) {
		tr, d := m.assigned(t, "rider-b")
		got := cancel("rider-b", tr.GetId())
		if got.GetSubStatus() != "" {
			t.Fatalf("a cancellation within the free window owes no fee: %v", got)
		}
		m.waitDriver(t, d, matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE)
	})

	t.Run("started", func(t *testing.T) {
		tr, d := m.assigned(t, "rider-c")
		if _, err := m.as(driverID(d)).StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err := m.as(rider("rider-c")).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "late"})
		grpctest.WantCode(t, err, codes.PermissionDenied)
		_, err = m.as(driverID(d)).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "late"})
		grpctest.WantCode(t, err, codes.PermissionDenied)
		resp, err := m.as(operator).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "incident"})
		if err != nil || resp.GetTrip().GetCancellation().GetActor() != tripv1.CancellationActor_CANCELLATION_ACTOR_OPERATOR {
			t.Fatalf("operator cancel = %v, %v", resp, err)
		}
		m.waitDriver(t, d, matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE)
	})

	t.Run("ended", func(t *testing.T) {
		tr, d := m.assigned(t, "rider-d")
		drv := m.as(driverID(d))
		if _, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId()}); err != nil {
			t.Fatal(err)
		}
		if _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz}); err != nil {
			t.Fatal(err)
		}
		_, err := m.as(operator).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "too late"})
		info := grpctest.WantReason(t, err, codes.FailedPrecondition, "TRIP_WRONG_STATUS")
		if info.GetMetadata()["status"] != "TRIP_STATUS_ENDED" {
			t.Fatalf("metadata = %v", info.GetMetadata())
		}
	})

	t.Run("driver cancels after accepting", func(t *testing.T) {
		tr, d := m.assigned(t, "rider-e")
		resp, err := m.as(driverID(d)).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "car_trouble"})
		if err != nil {
			t.Fatal(err)
		}
		// The search starts again for the same trip: REQUESTED, no driver, no fee.
		got := resp.GetTrip()
		if got.GetStatus() != tripv1.TripStatus_TRIP_STATUS_REQUESTED || got.GetDriverId() != "" || got.GetCancellation() != nil || got.GetSubStatus() != "" {
			t.Fatalf("after the driver cancelled: %v", got)
		}
		m.waitDriver(t, d, matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE)
		// The cancelling driver no longer sees it.
		_, err = m.as(driverID(d)).GetTrip(ctx, &tripv1.GetTripRequest{TripId: tr.GetId()})
		grpctest.WantCode(t, err, codes.NotFound)
		var again *tripv1.Trip
		grpctest.Eventually(t, 30*time.Second, "a new match", func() bool {
			again = m.get(t, tr.GetId(), 0)
			return again.GetMatchId() != "" && again.GetMatchId() != tr.GetMatchId()
		})
		d2 := m.accept(t, again)
		final := m.waitStatus(t, tr.GetId(), tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED)
		if final.GetDriverId() != d2 {
			t.Fatalf("assigned %s, want %s", final.GetDriverId(), d2)
		}
		var rows int
		if err := m.trip.Pool.QueryRow(ctx, "SELECT count(*) FROM trip WHERE customer_id = 'rider-e'").Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d trips for the rider (%v), want the one", rows, err)
		}
		var labels []string
		for _, e := range final.GetTimeline() {
			labels = append(labels, e.GetLabel())
		}
		if strings.Join(labels, ",") != "requested,driver_assigned,driver_cancelled,driver_assigned" {
			t.Fatalf("timeline %v", labels)
		}
	})
}

// TestLateRiderCancellationOwesFee: a rider who cancels after the free window is
// charged: the trip's sub-status says cancellation_fee_due, for fare to price.
func TestLateRiderCancellationOwesFee(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{trip: func(c *tripapp.Config) { c.FreeCancelWindow = time.Millisecond }})
	tr, d := m.assigned(t, "rider-late")
	time.Sleep(5 * time.Millisecond)
	resp, err := m.as(rider("rider-late")).CancelTrip(grpctest.Context(t), &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "rider_changed_mind"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetTrip()
	if got.GetSubStatus() != "cancellation_fee_due" {
		t.Fatalf("late cancellation sub-status %q, want cancellation_fee_due", got.GetSubStatus())
	}
	last := got.GetTimeline()[len(got.GetTimeline())-1]
	if last.GetLabel() != "sub_status:cancellation_fee_due" {
		t.Fatalf("timeline = %v", got.GetTimeline())
	}
	m.waitDriver(t, d, matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE)
	// Fare prices the fee and billing bills it, once.
	grpctest.Eventually(t, 30*time.Second, "the fee on the rider's bill", func() bool {
		fares, items := m.billed(t, tr.GetId(), "rider-late")
		return fares == 1 && items == 1
	})
}
