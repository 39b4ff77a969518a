package tripgrpc_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestTripRestartsMidRide: trip stops while a ride is under way (and matching is cut off
// when it ends, so the driver's release is owed across the restart); started again on
// the same database, the ride continues, ends, the driver is released once matching is
// back, and fare prices it exactly once.
func TestTripRestartsMidRide(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	tr, d := m.assigned(t, "rider-crash")
	if _, err := m.as(driverID(d)).StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId(), Location: alexanderplatz}); err != nil {
		t.Fatal(err)
	}
	m.restartTrip(t)
	drv := m.as(driverID(d))
	pts := []*tripv1.RoutePoint{{Point: potsdamerPlatz, Time: timestamppb.New(time.Now())}}
	if _, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: tr.GetId(), Points: pts}); err != nil {
		t.Fatalf("RecordTripLocation after the restart: %v", err)
	}
	m.matchingProxy.setDown(true)
	if _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz, RequestId: "end"}); err != nil {
		t.Fatalf("EndTrip with matching unreachable: %v", err)
	}
	if m.count(t, "matching_task") != 1 {
		t.Fatal("the driver's release is not owed")
	}
	m.restartTrip(t)
	m.matchingProxy.setDown(false)
	m.waitDriver(t, d, matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE)
	var got *tripv1.Trip
	grpctest.Eventually(t, 30*time.Second, "the final fare", func() bool {
		got = m.get(t, tr.GetId(), typev1.View_VIEW_STANDARD)
		return got.GetFinalFare() != nil
	})
	var fares int
	if err := m.fare.Pool.QueryRow(ctx, "SELECT count(*) FROM ride_fare").Scan(&fares); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range got.GetTimeline() {
		if e.GetLabel() == "final_fare_set" {
			n++
		}
	}
	if fares != 1 || n != 1 {
		t.Fatalf("%d fares, %d final_fare_set entries; want 1 and 1", fares, n)
	}
	// The task row goes once matching's answer is recorded, just after the driver shows
	// AVAILABLE in matching.
	grpctest.Eventually(t, 10*time.Second, "no owed call left", func() bool { return m.count(t, "matching_task") == 0 })
}
