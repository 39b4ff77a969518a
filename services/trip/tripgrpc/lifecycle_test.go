package tripgrpc_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestRideEndToEnd walks a ride through the real services: request (standing, quote,
// match), the driver accepts in matching, trip applies matching's event, start, route,
// end with the distance from the route, the driver released in matching, and trip's
// events in order with the route in trip.trip.ended.
func TestRideEndToEnd(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	tr, d := m.assigned(t, "rider-1")
	if tr.GetDriverId() != d || tr.GetAssignTime() == nil || tr.GetEstimate().GetAmountMinor() <= 0 || tr.GetQuoteId() == "" {
		t.Fatalf("assigned trip = %v", tr)
	}
	if m.driverStatus(t, d) != matchingv1.DriverStatus_DRIVER_STATUS_ON_TRIP {
		t.Fatalf("driver not ON_TRIP")
	}
	drv := m.as(driverID(d))
	started, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId(), Location: alexanderplatz, RequestId: "start-1"})
	if err != nil {
		t.Fatalf("StartTrip: %v", err)
	}
	if started.GetTrip().GetStatus() != tripv1.TripStatus_TRIP_STATUS_STARTED || started.GetTrip().GetLastRoutePoint() == nil {
		t.Fatalf("started = %v", started.GetTrip())
	}
	// About 1 km south, then on to Potsdamer Platz.
	t0 := started.GetTrip().GetStartTime().AsTime()
	points := []*tripv1.RoutePoint{
		{Point: &typev1.GeoPoint{Latitude: 52.5129, Longitude: 13.4132}, Time: timestamppb.New(t0.Add(time.Second))},
		{Point: potsdamerPlatz, Time: timestamppb.New(t0.Add(2 * time.Second))},
		{Point: potsdamerPlatz, Time: timestamppb.New(t0.Add(-time.Minute))}, // before the start: ignored
	}
	rec, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: tr.GetId(), Points: points})
	if err != nil {
		t.Fatalf("RecordTripLocation: %v", err)
	}
	if rec.GetAcceptedCount() != 2 || rec.GetIgnoredCount() != 1 || rec.GetLastRoutePoint().GetPoint().GetLatitude() != potsdamerPlatz.GetLatitude() {
		t.Fatalf("record = %v", rec)
	}
	// The same points again: all ignored (a retry adds nothing).
	rec, err = drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: tr.GetId(), Points: points[:2]})
	if err != nil || rec.GetAcceptedCount() != 0 || rec.GetIgnoredCount() != 2 {
		t.Fatalf("record again = %v, %v", rec, err)
	}
	ended, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz, RequestId: "end-1"})
	if err != nil {
		t.Fatalf("EndTrip: %v", err)
	}
	e := ended.GetTrip()
	// Alexanderplatz → 1 km south → Potsdamer Platz: about 1,000 + 2,535 m.
	if e.GetStatus() != tripv1.TripStatus_TRIP_STATUS_ENDED || e.GetDistanceMeters() < 3300 || e.GetDistanceMeters() > 3800 ||
		e.GetEndTime() == nil || e.GetActualDropoff() == nil || e.GetFinalFare() != nil {
		t.Fatalf("ended = %v", e)
	}
	// A retry of EndTrip with its request id answers the same without a second effect.
	again, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz, RequestId: "end-1"})
	if err != nil || again.GetTrip().GetVersion() != e.GetVersion() {
		t.Fatalf("EndTrip retry = %v, %v", again, err)
	}
	m.waitDriver(t, d, matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE)
	grpctest.Eventually(t, 30*time.Second, "no owed matching call", func() bool { return m.count(t, "matching_task") == 0 })

	full := m.get(t, tr.GetId(), typev1.View_VIEW_FULL)
	var labels []string
	for _, e := range full.GetTimeline() {
		labels = append(labels, e.GetLabel())
	}
	// "final_fare_set" follows once fare priced the ride.
	if len(full.GetRoute()) != 3 || len(labels) < 4 || strings.Join(labels[:4], ",") != "requested,driver_assigned,started,ended" {
		t.Fatalf("full trip route %d points, timeline %v", len(full.GetRoute()), labels)
	}
	// Trip's events: requested, driver_assigned, started, ended (with the route).
	evs := m.tripEvents(t, 4)
	want := []string{"trip.trip.requested", "trip.trip.driver_assigned", "trip.trip.started", "trip.trip.ended"}
	for i, ev := range evs {
		if ev.GetType() != want[i] || ev.GetKey() != tr.GetId() {
			t.Fatalf("event %d = %s %s, want %s", i, ev.GetType(), ev.GetKey(), want[i])
		}
	}
	var payload tripv1.TripEvent
	if err := evs[3].GetPayload().UnmarshalTo(&payload); err != nil {
		t.Fatal(err)
	}
	if len(payload.GetTrip().GetRoute()) != 3 || payload.GetPreviousStatus() != tripv1.TripStatus_TRIP_STATUS_STARTED ||
		payload.GetTrip().GetDistanceMeters() != e.GetDistanceMeters() || payload.GetTrip().GetQuoteId() != tr.GetQuoteId() {
		t.Fatalf("ended payload = %v", payload.GetTrip())
	}
}

// tripEvents reads the first n events of trip's log.
func (m *mesh) tripEvents(t testing.TB, n int) []*eventsv1.Event {
	t.Helper()
	ctx := grpctest.Context(t)
	stream, err := eventsv1.NewEventStreamServiceClient(m.trip.Conn(service)).Subscribe(ctx, &eventsv1.SubscribeRequest{
		Service: "trip", PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL})
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventsv1.Event
	for len(out) < n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Subscribe: %v after %d events", err, len(out))
		}
		if ev := resp.GetEvent(); ev != nil {
			out = append(out, ev)
		}
	}
	return out
}
