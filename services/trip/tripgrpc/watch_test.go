package tripgrpc_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestWatchTrip follows a ride from the rider's page: the current state first, then
// each change, heartbeats while idle, and the stream ends with OK once the ended trip
// has its final fare (computed by the real fare service from trip.trip.ended). Only the
// rider and the assigned driver (and operators) may watch: anyone else gets NOT_FOUND.
func TestWatchTrip(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	m.driverAt(t, alexanderplatz)
	tr := m.request(t, "rider-w")

	stream, err := m.as(rider("rider-w")).WatchTrip(ctx, &tripv1.WatchTripRequest{TripId: tr.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetTrip().GetStatus() != tripv1.TripStatus_TRIP_STATUS_REQUESTED {
		t.Fatalf("first message = %v, %v", first, err)
	}
	// Others cannot watch it.
	for _, who := range []string{"rider-other"} {
		s, err := m.as(rider(who)).WatchTrip(ctx, &tripv1.WatchTripRequest{TripId: tr.GetId()})
		if err == nil {
			_, err = s.Recv()
		}
		grpctest.WantCode(t, err, codes.NotFound)
	}
	heartbeats := 0
	for heartbeats == 0 { // idle: a heartbeat comes (every 300 ms here)
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetHeartbeat() {
			heartbeats++
		}
	}

	d := m.accept(t, tr)
	drv := m.as(driverID(d))
	m.waitStatus(t, tr.GetId(), tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED)
	ds, err := drv.WatchTrip(ctx, &tripv1.WatchTripRequest{TripId: tr.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := ds.Recv(); err != nil || msg.GetTrip().GetDriverId() != d {
		t.Fatalf("the assigned driver's watch: %v, %v", msg, err)
	}
	if _, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId(), Location: alexanderplatz}); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz}); err != nil {
		t.Fatal(err)
	}

	var seen []tripv1.TripStatus
	var last *tripv1.Trip
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if msg.GetTrip() != nil {
			last = msg.GetTrip()
			if len(seen) == 0 || seen[len(seen)-1] != last.GetStatus() {
				seen = append(seen, last.GetStatus())
			}
		}
	}
	if last.GetStatus() != tripv1.TripStatus_TRIP_STATUS_ENDED || last.GetFinalFare() == nil || last.GetFinalFare().GetAmountMinor() < 800 {
		t.Fatalf("the stream's last trip = %v, want ENDED with the final fare (at least the 8 EUR minimum)", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("statuses went back: %v", seen)
		}
	}
}
