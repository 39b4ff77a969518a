package matchinggrpc_test

import (
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/matching/matching"
)

// TestUpdateDriverLocation: a newer fix becomes the driver's last location, an older
// one is ignored (not an error), an OFFLINE driver is refused, and so is anyone but the
// driver, operators and services.
func TestUpdateDriverLocation(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	d := h.online(t)
	id := d.GetId()
	now := time.Now().UTC().Truncate(time.Microsecond)
	got := h.locate(t, id, 52.52, 13.405, now)
	if !got.GetAccepted() || got.GetLastLocation().GetLatitude() != 52.52 || !got.GetLastLocationTime().AsTime().Equal(now) {
		t.Fatalf("first fix: %v", got)
	}
	older := h.locate(t, id, 10, 10, now.Add(-time.Second))
	if older.GetAccepted() || older.GetLastLocation().GetLatitude() != 52.52 {
		t.Fatalf("an older fix: %v", older)
	}
	same := h.locate(t, id, 11, 11, now)
	if same.GetAccepted() {
		t.Fatalf("a fix as old as the last: %v", same)
	}
	read, err := h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil || read.GetDriver().GetLastLocation().GetLongitude() != 13.405 || !read.GetDriver().GetLastLocationTime().AsTime().Equal(now) ||
		read.GetDriver().GetVersion() != d.GetVersion() {
		t.Fatalf("GetDriver after a fix = %v, %v (version must not change)", read, err)
	}
	// Operators and services may report too; other drivers and customers may not.
	if _, err := h.service.UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: id, Location: fix(52.5, 13.4, now.Add(time.Second))}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []matchingv1.MatchingServiceClient{h.as(ids.New()), h.customer} {
		_, err := c.UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: id, Location: fix(0, 0, now.Add(2*time.Second))})
		grpctest.WantCode(t, err, codes.PermissionDenied)
	}
	_, err = h.operator.UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: ids.New(), Location: fix(0, 0, now)})
	grpctest.WantCode(t, err, codes.NotFound)
	// OFFLINE drivers are not tracked.
	off := h.create(t, newDriver())
	_, err = h.as(off.GetId()).UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: off.GetId(), Location: fix(1, 1, now)})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonDriverOffline)
	if _, err := h.as(id).SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = h.as(id).UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: id, Location: fix(1, 1, now.Add(10*time.Second))})
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonDriverOffline)
}

// TestUpdateDriverLocationBadInput: each malformed part of a fix is INVALID_ARGUMENT
// naming it, and changes nothing.
func TestUpdateDriverLocationBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	id := h.online(t).GetId()
	now := time.Now()
	h.locate(t, id, 52.52, 13.405, now)
	edit := func(f func(l *matchingv1.LocationUpdate)) *matchingv1.LocationUpdate {
		l := fix(48.1, 11.5, now.Add(time.Second))
		f(l)
		return l
	}
	cases := []struct {
		field string
		loc   *matchingv1.LocationUpdate
	}{
		{"location", nil},
		{"location.point", edit(func(l *matchingv1.LocationUpdate) { l.Point = nil })},
		{"location.point.latitude", edit(func(l *matchingv1.LocationUpdate) { l.Point.Latitude = 90.0001 })},
		{"location.point.latitude", edit(func(l *matchingv1.LocationUpdate) { l.Point.Latitude = math.NaN() })},
		{"location.point.longitude", edit(func(l *matchingv1.LocationUpdate) { l.Point.Longitude = -180.5 })},
		{"location.point.longitude", edit(func(l *matchingv1.LocationUpdate) { l.Point.Longitude = math.Inf(1) })},
		{"location.fix_time", edit(func(l *matchingv1.LocationUpdate) { l.FixTime = nil })},
		{"location.fix_time", edit(func(l *matchingv1.LocationUpdate) { l.FixTime.Nanos = -1 })},
		{"location.fix_time", edit(func(l *matchingv1.LocationUpdate) { l.FixTime.Seconds = now.Add(time.Minute).Unix() })},
		{"location.accuracy_meters", edit(func(l *matchingv1.LocationUpdate) { l.AccuracyMeters = -1 })},
		{"location.accuracy_meters", edit(func(l *matchingv1.LocationUpdate) { l.AccuracyMeters = 10001 })},
		{"location.heading_degrees", edit(func(l *matchingv1.LocationUpdate) { l.HeadingDegrees = 360 })},
		{"location.speed_meters_per_second", edit(func(l *matchingv1.LocationUpdate) { l.SpeedMetersPerSecond = 100.5 })},
		{"location.speed_meters_per_second", edit(func(l *matchingv1.LocationUpdate) { l.SpeedMetersPerSecond = math.NaN() })},
	}
	for _, c := range cases {
		_, err := h.as(id).UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: id, Location: c.loc})
		grpctest.WantField(t, err, c.field)
	}
	_, err := h.operator.UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{Location: fix(1, 1, now)})
	grpctest.WantField(t, err, "driver_id")
	read, err := h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil || read.GetDriver().GetLastLocation().GetLatitude() != 52.52 {
		t.Fatalf("refused fixes moved the driver: %v, %v", read, err)
	}
}

// streamFixes streams fixes as driver id (with driver ids given per message) and
// returns the summary, or the error that ended the stream.
func (h *harness) stream(t *testing.T, as string, msgs []*matchingv1.StreamDriverLocationsRequest) (*matchingv1.StreamDriverLocationsResponse, error) {
	t.Helper()
	st, err := h.as(as).StreamDriverLocations(grpctest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := st.Send(m); err != nil {
			break // the server ended the stream: CloseAndRecv says why
		}
	}
	return st.CloseAndRecv()
}

// TestStreamDriverLocations: a driver streaming 1,000 fixes ends at the last one, which
// reaches the database.
func TestStreamDriverLocations(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := h.online(t).GetId()
	start := time.Now().Add(-10 * time.Second).UTC().Truncate(time.Microsecond)
	var msgs []*matchingv1.StreamDriverLocationsRequest
	for i := range 1000 {
		msgs = append(msgs, &matchingv1.StreamDriverLocationsRequest{
			DriverId: id, Location: fix(52.5+float64(i)*1e-5, 13.4, start.Add(time.Duration(i)*time.Millisecond)),
		})
	}
	last := msgs[len(msgs)-1].GetLocation()
	sum, err := h.stream(t, id, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetAcceptedCount() != 1000 || sum.GetRejectedCount() != 0 || !proto.Equal(sum.GetLastLocation(), last.GetPoint()) ||
		!proto.Equal(sum.GetLastLocationTime(), last.GetFixTime()) {
		t.Fatalf("summary %v, want 1000 accepted ending at %v", sum, last)
	}
	// The flusher writes the last fix.
	grpctest.Eventually(t, 10*time.Second, "the last fix in driver_location", func() bool {
		var lat float64
		var at time.Time
		err := h.pool.QueryRow(t.Context(), "SELECT latitude, fix_time FROM driver_location WHERE driver_id = $1", id).Scan(&lat, &at)
		return err == nil && lat == last.GetPoint().GetLatitude() && at.Equal(last.GetFixTime().AsTime())
	})
}

// TestStreamRejectsBadFixes: a bad, stale or missing fix in a stream is counted as
// rejected and the stream goes on (the contract's rule); a message with another driver's
// id ends the stream with INVALID_ARGUMENT naming driver_id, and the fixes accepted
// before are kept.
func TestStreamRejectsBadFixes(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := h.online(t).GetId()
	now := time.Now().Add(-time.Minute / 2)
	msg := func(lat float64, at time.Time) *matchingv1.StreamDriverLocationsRequest {
		return &matchingv1.StreamDriverLocationsRequest{DriverId: id, Location: fix(lat, 13.4, at)}
	}
	sum, err := h.stream(t, id, []*matchingv1.StreamDriverLocationsRequest{
		msg(52.1, now),
		msg(95, now.Add(time.Second)),     // latitude out of range
		{DriverId: id},                    // no fix
		msg(52.2, now.Add(-time.Second)),  // older than the last
		msg(52.3, now.Add(2*time.Second)), // accepted
		{DriverId: id, Location: &matchingv1.LocationUpdate{Point: &typev1.GeoPoint{}}}, // no fix time
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetAcceptedCount() != 2 || sum.GetRejectedCount() != 4 || sum.GetLastLocation().GetLatitude() != 52.3 {
		t.Fatalf("summary %v, want 2 accepted, 4 rejected, at 52.3", sum)
	}
	// Another driver's id mid-stream ends it; the earlier fixes stay.
	_, err = h.stream(t, id, []*matchingv1.StreamDriverLocationsRequest{
		msg(52.4, now.Add(3*time.Second)),
		{DriverId: ids.New(), Location: fix(1, 1, now.Add(4*time.Second))},
		msg(52.6, now.Add(5*time.Second)),
	})
	grpctest.WantField(t, err, "driver_id")
	_, err = h.stream(t, id, []*matchingv1.StreamDriverLocationsRequest{{Location: fix(1, 1, now.Add(6*time.Second))}})
	grpctest.WantField(t, err, "driver_id")
	read, err := h.operator.GetDriver(grpctest.Context(t), &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil || read.GetDriver().GetLastLocation().GetLatitude() != 52.4 {
		t.Fatalf("after the refused stream: %v, %v; want the last accepted fix, 52.4", read, err)
	}
}

// TestStreamAnotherDriver: a driver cannot stream another driver's location; an unknown
// driver is NOT_FOUND; an OFFLINE driver's fixes are rejected.
func TestStreamAnotherDriver(t *testing.T) {
	t.Parallel()
	h := start(t)
	victim := h.online(t).GetId()
	h.locate(t, victim, 52.52, 13.405, time.Now())
	other := h.online(t).GetId()
	_, err := h.stream(t, other, []*matchingv1.StreamDriverLocationsRequest{{DriverId: victim, Location: fix(1, 1, time.Now())}})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.stream(t, other, []*matchingv1.StreamDriverLocationsRequest{
		{DriverId: other, Location: fix(1, 1, time.Now())},
		{DriverId: victim, Location: fix(1, 1, time.Now())},
	})
	grpctest.WantField(t, err, "driver_id")
	read, err := h.operator.GetDriver(grpctest.Context(t), &matchingv1.GetDriverRequest{DriverId: victim})
	if err != nil || read.GetDriver().GetLastLocation().GetLatitude() != 52.52 {
		t.Fatalf("the victim moved: %v, %v", read, err)
	}
	unknown := ids.New()
	_, err = h.stream(t, unknown, []*matchingv1.StreamDriverLocationsRequest{{DriverId: unknown, Location: fix(1, 1, time.Now())}})
	grpctest.WantCode(t, err, codes.NotFound)
	offline := h.create(t, newDriver()).GetId()
	sum, err := h.stream(t, offline, []*matchingv1.StreamDriverLocationsRequest{
		{DriverId: offline, Location: fix(1, 1, time.Now())},
		{DriverId: offline, Location: fix(1, 1, time.Now().Add(time.Second))},
	})
	if err != nil || sum.GetAcceptedCount() != 0 || sum.GetRejectedCount() != 2 || sum.GetLastLocation() != nil {
		t.Fatalf("an OFFLINE driver's stream: %v, %v; want 2 rejected", sum, err)
	}
}
