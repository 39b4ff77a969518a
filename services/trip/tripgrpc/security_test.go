package tripgrpc_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
)

// state is what a call could have written: rows, route points, events, keys, and the
// trips' versions.
func (m *mesh) state(t testing.TB) string {
	t.Helper()
	var s string
	err := m.trip.Pool.QueryRow(grpctest.Context(t), `SELECT concat_ws(',',
		(SELECT count(*) FROM trip), (SELECT count(*) FROM route_point), (SELECT count(*) FROM matching_task),
		(SELECT count(*) FROM outbox) + (SELECT count(*) FROM event_log), (SELECT count(*) FROM idempotency_keys),
		(SELECT coalesce(sum(version), 0) FROM trip), (SELECT string_agg(sub_status, '|') FROM trip))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBadInput sends invalid input to every RPC: INVALID_ARGUMENT naming the field, and
// nothing written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	tr, d := m.assigned(t, "rider-1")
	drv := m.as(driverID(d))
	if _, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId()}); err != nil {
		t.Fatal(err)
	}
	id := tr.GetId()
	far := &typev1.GeoPoint{Latitude: 91, Longitude: 13}
	now := timestamppb.Now()
	many := make([]*tripv1.RoutePoint, 501)
	for i := range many {
		many[i] = &tripv1.RoutePoint{Point: alexanderplatz, Time: now}
	}
	long := strings.Repeat("x", 65)
	negative, tooLong := int64(-1), int64(172_801)
	r1, svc, op := m.as(rider("rider-1")), m.as(service), m.as(operator)
	watch := func(c tripv1.TripServiceClient, req *tripv1.WatchTripRequest) error {
		s, err := c.WatchTrip(ctx, req)
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}
	cases := []struct {
		name, field string
		call        func() error
	}{
		{"request: nothing", "customer_id", func() error { _, err := r1.RequestTrip(ctx, &tripv1.RequestTripRequest{}); return err }},
		{"request: no pickup", "pickup", func() error {
			req := rideRequest("rider-9", "")
			req.Pickup = nil
			_, err := op.RequestTrip(ctx, req)
			return err
		}},
		{"request: pickup out of range", "pickup", func() error {
			req := rideRequest("rider-9", "")
			req.Pickup = far
			_, err := op.RequestTrip(ctx, req)
			return err
		}},
		{"request: dropoff out of range", "dropoff", func() error {
			req := rideRequest("rider-9", "")
			req.Dropoff = &typev1.GeoPoint{Latitude: 10, Longitude: -181}
			_, err := op.RequestTrip(ctx, req)
			return err
		}},
		{"request: product", "product", func() error {
			req := rideRequest("rider-9", "")
			req.Product = "Standard!"
			_, err := op.RequestTrip(ctx, req)
			return err
		}},
		{"request: city", "city", func() error {
			req := rideRequest("rider-9", "")
			req.City = ""
			_, err := op.RequestTrip(ctx, req)
			return err
		}},
		{"request: request_id", "request_id", func() error { _, err := op.RequestTrip(ctx, rideRequest("rider-9", long)); return err }},
		{"get: empty id", "trip_id", func() error { _, err := op.GetTrip(ctx, &tripv1.GetTripRequest{}); return err }},
		{"get: malformed id", "trip_id", func() error { _, err := op.GetTrip(ctx, &tripv1.GetTripRequest{TripId: "t-1"}); return err }},
		{"get: view", "view", func() error { _, err := op.GetTrip(ctx, &tripv1.GetTripRequest{TripId: id, View: 9}); return err }},
		{"list: page_size", "page_size", func() error { _, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{PageSize: 501}); return err }},
		{"list: negative page_size", "page_size", func() error { _, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{PageSize: -1}); return err }},
		{"list: page_token", "page_token", func() error { _, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{PageToken: "garbage"}); return err }},
		{"list: status", "status", func() error { _, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{Status: 42}); return err }},
		{"assign: trip_id", "trip_id", func() error {
			_, err := svc.AssignDriver(ctx, &tripv1.AssignDriverRequest{DriverId: d, MatchId: tr.GetMatchId()})
			return err
		}},
		{"assign: driver_id", "driver_id", func() error {
			_, err := svc.AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: id, MatchId: tr.GetMatchId()})
			return err
		}},
		{"assign: match_id", "match_id", func() error {
			_, err := svc.AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: id, DriverId: d, MatchId: "m"})
			return err
		}},
		{"start: trip_id", "trip_id", func() error { _, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{}); return err }},
		{"start: location", "location", func() error {
			_, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: id, Location: far})
			return err
		}},
		{"record: trip_id", "trip_id", func() error {
			_, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{Points: many[:1]})
			return err
		}},
		{"record: no points", "points", func() error {
			_, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: id})
			return err
		}},
		{"record: too many points", "points", func() error {
			_, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: id, Points: many})
			return err
		}},
		{"record: a point without position", "points[1].point", func() error {
			_, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: id, Points: []*tripv1.RoutePoint{
				{Point: alexanderplatz, Time: now}, {Time: now}}})
			return err
		}},
		{"record: a point out of range", "points[0].point", func() error {
			_, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: id, Points: []*tripv1.RoutePoint{{Point: far, Time: now}}})
			return err
		}},
		{"record: a point without time", "points[0].time", func() error {
			_, err := drv.RecordTripLocation(ctx, &tripv1.RecordTripLocationRequest{TripId: id, Points: []*tripv1.RoutePoint{{Point: alexanderplatz}}})
			return err
		}},
		{"end: trip_id", "trip_id", func() error { _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{Dropoff: potsdamerPlatz}); return err }},
		{"end: dropoff", "dropoff", func() error { _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: id}); return err }},
		{"end: distance", "distance_meters", func() error {
			_, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: id, Dropoff: potsdamerPlatz, DistanceMeters: &negative})
			return err
		}},
		{"end: duration", "duration_seconds", func() error {
			_, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: id, Dropoff: potsdamerPlatz, DurationSeconds: &tooLong})
			return err
		}},
		{"cancel: trip_id", "trip_id", func() error { _, err := op.CancelTrip(ctx, &tripv1.CancelTripRequest{Reason: "x"}); return err }},
		{"cancel: no reason", "reason", func() error { _, err := op.CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: id}); return err }},
		{"cancel: reason too long", "reason", func() error {
			_, err := op.CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: id, Reason: strings.Repeat("r", 201)})
			return err
		}},
		{"sub-status: malformed", "sub_status", func() error {
			_, err := op.SetTripSubStatus(ctx, &tripv1.SetTripSubStatusRequest{TripId: id, SubStatus: "Lost Item"})
			return err
		}},
		{"sub-status: trip_id", "trip_id", func() error {
			_, err := op.SetTripSubStatus(ctx, &tripv1.SetTripSubStatusRequest{SubStatus: "disputed"})
			return err
		}},
		{"watch: trip_id", "trip_id", func() error { return watch(r1, &tripv1.WatchTripRequest{}) }},
		{"details: no ids", "ids", func() error {
			_, err := m.provider(service).GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Provider: "trip"})
			return err
		}},
		{"details: malformed id", "ids[1]", func() error {
			_, err := m.provider(service).GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Provider: "trip", Ids: []string{id, "x"}})
			return err
		}},
		{"details: provider", "provider", func() error {
			_, err := m.provider(service).GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Provider: "booking", Ids: []string{id}})
			return err
		}},
		{"confirm: request_id", "request_id", func() error {
			_, err := m.provider(service).ConfirmReservations(ctx, &reservationv1.ConfirmReservationsRequest{Provider: "trip", Ids: []string{id}})
			return err
		}},
		{"cancel rides: request_id", "request_id", func() error {
			_, err := m.provider(service).CancelReservations(ctx, &reservationv1.CancelReservationsRequest{Provider: "trip", Ids: []string{id}})
			return err
		}},
	}
	before := m.state(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			grpctest.WantField(t, c.call(), c.field)
			if after := m.state(t); after != before {
				t.Fatalf("state %s → %s: invalid input wrote something", before, after)
			}
		})
	}
}

// TestAuthorization: a rider sees only their trips and a driver only those assigned to
// them (anyone else's trip looks missing: NOT_FOUND); riders do not drive; nobody acts
// for someone else; nothing is written by a refused call.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	tr, d := m.assigned(t, "rider-1")
	id := tr.GetId()
	other := m.driverAt(t, potsdamerPlatz)
	r1, r2, drv, drv2 := m.as(rider("rider-1")), m.as(rider("rider-2")), m.as(driverID(d)), m.as(driverID(other))
	watch := func(c tripv1.TripServiceClient) error {
		s, err := c.WatchTrip(ctx, &tripv1.WatchTripRequest{TripId: id})
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}
	before := m.state(t)
	for _, c := range []struct {
		name string
		code codes.Code
		call func() error
	}{
		{"another rider gets", codes.NotFound, func() error { _, err := r2.GetTrip(ctx, &tripv1.GetTripRequest{TripId: id}); return err }},
		{"another rider cancels", codes.NotFound, func() error {
			_, err := r2.CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: id, Reason: "x"})
			return err
		}},
		{"another rider watches", codes.NotFound, func() error { return watch(r2) }},
		{"another driver gets", codes.NotFound, func() error { _, err := drv2.GetTrip(ctx, &tripv1.GetTripRequest{TripId: id}); return err }},
		{"another driver starts", codes.NotFound, func() error { _, err := drv2.StartTrip(ctx, &tripv1.StartTripRequest{TripId: id}); return err }},
		{"another driver watches", codes.NotFound, func() error { return watch(drv2) }},
		{"an unknown trip", codes.NotFound, func() error { _, err := r1.GetTrip(ctx, &tripv1.GetTripRequest{TripId: ids.New()}); return err }},
		{"the rider starts", codes.PermissionDenied, func() error { _, err := r1.StartTrip(ctx, &tripv1.StartTripRequest{TripId: id}); return err }},
		{"the rider sets a sub-status", codes.PermissionDenied, func() error {
			_, err := r1.SetTripSubStatus(ctx, &tripv1.SetTripSubStatusRequest{TripId: id, SubStatus: "x"})
			return err
		}},
		{"the rider assigns", codes.PermissionDenied, func() error {
			_, err := r1.AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: id, DriverId: d, MatchId: tr.GetMatchId()})
			return err
		}},
		{"the driver assigns", codes.PermissionDenied, func() error {
			_, err := drv.AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: id, DriverId: d, MatchId: tr.GetMatchId()})
			return err
		}},
		{"a rider requests for another", codes.PermissionDenied, func() error {
			_, err := r2.RequestTrip(ctx, rideRequest("rider-3", ""))
			return err
		}},
		{"a driver requests", codes.PermissionDenied, func() error {
			_, err := drv2.RequestTrip(ctx, rideRequest(other, ""))
			return err
		}},
		{"a rider lists another's", codes.PermissionDenied, func() error {
			_, err := r2.ListTrips(ctx, &tripv1.ListTripsRequest{CustomerId: "rider-1"})
			return err
		}},
		{"a driver lists another's", codes.PermissionDenied, func() error {
			_, err := drv2.ListTrips(ctx, &tripv1.ListTripsRequest{DriverId: d})
			return err
		}},
		{"a rider confirms rides", codes.PermissionDenied, func() error {
			_, err := m.provider(rider("rider-1")).ConfirmReservations(ctx, &reservationv1.ConfirmReservationsRequest{Provider: "trip", Ids: []string{id}, RequestId: "c"})
			return err
		}},
		{"no token", codes.Unauthenticated, func() error { _, err := m.as(anon).GetTrip(ctx, &tripv1.GetTripRequest{TripId: id}); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			grpctest.WantCode(t, c.call(), c.code)
			if after := m.state(t); after != before {
				t.Fatalf("state %s → %s: a refused call wrote something", before, after)
			}
		})
	}
	// Lists: each sees only their own.
	for _, c := range []struct {
		client tripv1.TripServiceClient
		want   int
	}{{r1, 1}, {r2, 0}, {drv, 1}, {drv2, 0}, {m.as(operator), 1}} {
		resp, err := c.client.ListTrips(ctx, &tripv1.ListTripsRequest{})
		if err != nil || len(resp.GetTrips()) != c.want {
			t.Fatalf("ListTrips = %v, %v; want %d trips", resp, err, c.want)
		}
	}
	// The provider contract answers someone else's ride as not found.
	resp, err := m.provider(rider("rider-2")).GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Provider: "trip", Ids: []string{id}})
	if err != nil || resp.GetResults()[0].GetStatus() != reservationv1.ReservationResult_STATUS_NOT_FOUND {
		t.Fatalf("details of another's ride = %v, %v", resp, err)
	}
}
