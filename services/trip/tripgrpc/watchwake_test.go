package tripgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/trip/tripapp"
)

// TestWatchTripWakesWithoutPoll runs rides whose riders watch them with trip's watch
// poll set to an hour, so every change must reach the watch through a wake-up: the
// driver assigned (matching's event, applied by trip's consumer), and the final fare
// (fare's event, applied by the other consumer), with the rides overlapping so that
// both consumers commit at once. A missed wake-up leaves a watch silent (heartbeats
// only) and the test fails on the stream's hang guard; nothing here measures time.
func TestWatchTripWakesWithoutPoll(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{trip: func(c *tripapp.Config) { c.WatchPoll = time.Hour }})
	ctx := grpctest.Context(t)
	const rides = 6
	type watched struct {
		id     string
		stream tripv1.TripService_WatchTripClient
	}
	var all []watched
	// next returns the next trip message of s, skipping heartbeats; a stream silent
	// for a minute (the poll is an hour) counts as a missed wake-up.
	next := func(w watched) (*tripv1.Trip, error) {
		for {
			msg, err := w.stream.Recv()
			if err != nil {
				return nil, err
			}
			if msg.GetTrip() != nil {
				return msg.GetTrip(), nil
			}
		}
	}
	for i := range rides {
		customer := fmt.Sprintf("rider-wake-%d", i)
		m.driverAt(t, alexanderplatz)
		tr := m.request(t, customer)
		// Hang guard only: a minute, against a poll of an hour.
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		t.Cleanup(cancel)
		stream, err := m.as(rider(customer)).WatchTrip(sctx, &tripv1.WatchTripRequest{TripId: tr.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		w := watched{id: tr.GetId(), stream: stream}
		if got, err := next(w); err != nil || got.GetStatus() != tripv1.TripStatus_TRIP_STATUS_REQUESTED {
			t.Fatalf("ride %d: first message %v, %v", i, got, err)
		}
		d := m.accept(t, tr)
		got, err := next(w)
		if err != nil {
			t.Fatalf("ride %d: the watch never showed the driver assigned (a missed wake-up): %v", i, err)
		}
		if got.GetStatus() != tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED || got.GetDriverId() != d {
			t.Fatalf("ride %d: after the accept the watch showed %v, want DRIVER_ASSIGNED to %s", i, got, d)
		}
		// Start and end it, leaving its fare to arrive while the next ride is assigned.
		drv := m.as(driverID(d))
		if _, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId(), Location: alexanderplatz}); err != nil {
			t.Fatal(err)
		}
		if _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz}); err != nil {
			t.Fatal(err)
		}
		all = append(all, w)
	}
	for i, w := range all {
		var last *tripv1.Trip
		for {
			got, err := next(w)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("ride %d: the watch ended with %v before the final fare (a missed wake-up); last %v", i, err, last)
			}
			last = got
		}
		if last.GetStatus() != tripv1.TripStatus_TRIP_STATUS_ENDED || last.GetFinalFare() == nil {
			t.Fatalf("ride %d: the watch's last trip = %v, want ENDED with its final fare", i, last)
		}
	}
}
