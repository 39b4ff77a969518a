package tripgrpc_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/matching/matchingapp"
	"github.com/waybill/waybill/services/trip/tripapp"
)

// R1 over gRPC on loopback: ride requests at a fixed arrival rate (open loop), each from
// its own rider, with simulated drivers around the pickup that accept every offer as
// soon as their offer stream (WatchDriverOffers) shows it. The latency is from the start
// of RequestTrip until the rider's WatchTrip stream shows the trip DRIVER_ASSIGNED:
// billing's standing, fare's quote, matching's search and offer, the driver's accept,
// matching's event, trip's consumer and the watch, all real, all on this machine's 2
// cores with their PostgreSQL. Each assigned ride is then cancelled by an operator, which
// releases its driver for the next ride.
//
//	go test -run '^$' -bench RequestToAssigned -benchtime 1x ./services/trip/tripgrpc/
var (
	r1Rate     = flag.Int("r1-rate", 50, "R1: ride requests a second")
	r1Duration = flag.Duration("r1-duration", 10*time.Second, "R1: how long requests arrive")
	r1Drivers  = flag.Int("r1-drivers", 60, "R1: simulated drivers")
)

func BenchmarkRequestToAssigned(b *testing.B) {
	m := startMesh(b, meshOptions{
		// Production settings, except trip's watch poll (the consumer's commit wakes
		// watchers; the poll is only a fallback).
		matching: func(c *matchingapp.Config) { *c = matchingapp.DefaultConfig() },
		trip:     func(c *tripapp.Config) { c.WatchPoll = time.Second },
	})
	ctx, cancel := context.WithCancel(grpctest.Context(b))
	defer cancel()
	r := rand.New(rand.NewPCG(1, 2))
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range *r1Drivers {
		p := &typev1.GeoPoint{Latitude: alexanderplatz.GetLatitude() + (r.Float64()-0.5)*0.01, Longitude: alexanderplatz.GetLongitude() + (r.Float64()-0.5)*0.016}
		id := m.driverAt(b, p)
		wg.Add(1)
		go func() { defer wg.Done(); m.simulateDriver(ctx, id, &accepted) }()
	}
	for i := 0; i < b.N; i++ {
		lat, calls, failed := m.openLoop(b, ctx, i)
		slices.Sort(lat)
		slices.Sort(calls)
		q := func(xs []time.Duration, p float64) time.Duration {
			if len(xs) == 0 {
				return 0
			}
			return xs[min(len(xs)-1, int(float64(len(xs))*p))]
		}
		b.ReportMetric(float64(q(lat, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(q(lat, 0.95).Microseconds())/1000, "p95-ms")
		b.ReportMetric(float64(q(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(lat))/r1Duration.Seconds(), "assigned/s")
		b.ReportMetric(float64(failed), "failed")
		b.Logf("R1 at %d requests/s for %v with %d drivers: %d assigned, %d failed; request→assigned p50 %v p95 %v p99 %v max %v; RequestTrip call p50 %v p99 %v",
			*r1Rate, *r1Duration, *r1Drivers, len(lat), failed, q(lat, .5), q(lat, .95), q(lat, .99), q(lat, 1), q(calls, .5), q(calls, .99))
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}

// openLoop sends r1Rate requests a second for r1Duration and returns each assigned
// ride's latency, each RequestTrip call's latency and the number of failed rides.
func (m *mesh) openLoop(b *testing.B, ctx context.Context, round int) (lat, calls []time.Duration, failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(*r1Rate))
	defer tick.Stop()
	end := time.Now().Add(*r1Duration)
	for n := 0; time.Now().Before(end); n++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, call, err := m.rideUntilAssigned(ctx, fmt.Sprintf("bench-%d-%d", round, n))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if failed <= 3 {
					b.Logf("ride %d: %v", n, err)
				}
				return
			}
			lat, calls = append(lat, d), append(calls, call)
		}()
	}
	wg.Wait()
	return lat, calls, failed
}

// rideUntilAssigned requests a ride for customer, follows it until DRIVER_ASSIGNED,
// and cancels it (as an operator), which frees the driver.
func (m *mesh) rideUntilAssigned(ctx context.Context, customer string) (time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := m.as(rider(customer)).RequestTrip(ctx, rideRequest(customer, ""))
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	call := time.Since(start)
	id := resp.GetTrip().GetId()
	stream, err := m.as(rider(customer)).WatchTrip(ctx, &tripv1.WatchTripRequest{TripId: id})
	if err != nil {
		return 0, 0, err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return 0, 0, fmt.Errorf("watch: %w", err)
		}
		switch msg.GetTrip().GetStatus() {
		case tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED:
			d := time.Since(start)
			_, err := m.as(operator).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: id, Reason: "benchmark"})
			return d, call, err
		case tripv1.TripStatus_TRIP_STATUS_CANCELLED:
			return 0, 0, errors.New("cancelled: " + msg.GetTrip().GetCancellation().GetReason())
		}
	}
}

// simulateDriver accepts every offer driver's offer stream shows, at once, until ctx
// ends.
func (m *mesh) simulateDriver(ctx context.Context, driver string, accepted *atomic.Int64) {
	c := m.matchingAs(driverID(driver))
	for ctx.Err() == nil {
		stream, err := c.WatchDriverOffers(ctx, &matchingv1.WatchDriverOffersRequest{DriverId: driver})
		if err != nil {
			continue
		}
		for {
			msg, err := stream.Recv()
			if err != nil {
				break
			}
			if o := msg.GetOffer(); o.GetStatus() == matchingv1.OfferStatus_OFFER_STATUS_PENDING {
				if _, err := c.AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: o.GetId()}); err == nil {
					accepted.Add(1)
				}
			}
		}
	}
}
