package matchinggrpc_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// acceptMethod is AcceptOffer's full gRPC method name.
const acceptMethod = "/waybill.matching.v1.MatchingService/AcceptOffer"

// BenchmarkOfferAccept measures M2, "offer → accept committed, server side": the time
// the server spends on AcceptOffer, from the request's arrival at the handler to the
// answer after COMMIT (a unary interceptor around the handler, so token checks and
// network are outside; locking the offer's match with its offers and claiming the
// idempotency key, the conditional updates of offer, match and driver, withdrawing other
// offers, the outbox row of matching.driver.assigned and COMMIT are inside: three round
// trips). Each
// iteration creates a match, waits for its offer (not timed), accepts it as the driver,
// and releases the driver.
//
// Same-run baselines, measured right after each accept on the same database and pool:
// update-*: one plain single-row UPDATE of the driver in autocommit (one round trip and
// one commit, the least a write costs here); rtt-*: the whole AcceptOffer call as the
// client sees it over gRPC on loopback.
//
//	go test -run '^$' -bench BenchmarkOfferAccept -benchtime 400x -count 3 ./services/matching/matchinggrpc/
func BenchmarkOfferAccept(b *testing.B) {
	var mu sync.Mutex
	var server []time.Duration
	timer := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != acceptMethod {
			return handler(ctx, req)
		}
		t0 := time.Now()
		resp, err := handler(ctx, req)
		if err == nil {
			d := time.Since(t0)
			mu.Lock()
			server = append(server, d)
			mu.Unlock()
		}
		return resp, err
	})
	h := startWith(b, matchConfig(), grpctest.WithServerOptions(timer))
	ctx := grpctest.Context(b)
	for range 8 {
		h.driverAt(b, north(berlin, 100))
	}
	var rtt, update []time.Duration
	i := 0
	for b.Loop() {
		i++
		req := matchReq(30 * time.Second)
		req.TripId = fmt.Sprintf("bench-%d", i)
		m := h.createMatch(b, req)
		var offerID, driverID string
		for offerID == "" {
			err := h.pool.QueryRow(ctx, `SELECT id::text, driver_id::text FROM offer WHERE match_id = $1 AND status = 1`, m.GetId()).Scan(&offerID, &driverID)
			if err != nil {
				time.Sleep(200 * time.Microsecond)
			}
		}
		t0 := time.Now()
		if _, err := h.as(driverID).AcceptOffer(ctx, &matchingv1.AcceptOfferRequest{OfferId: offerID}); err != nil {
			b.Fatal(err)
		}
		rtt = append(rtt, time.Since(t0))
		t1 := time.Now()
		if _, err := h.pool.Exec(ctx, `UPDATE driver SET sub_status = sub_status WHERE id = $1`, driverID); err != nil {
			b.Fatal(err)
		}
		update = append(update, time.Since(t1))
		if _, err := h.service.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: driverID, TripId: req.GetTripId()}); err != nil {
			b.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	q := func(ds []time.Duration, p float64) float64 {
		s := slices.Sorted(slices.Values(ds))
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds())
	}
	if len(server) != len(rtt) {
		b.Fatalf("%d accepts timed in the server, %d by the client", len(server), len(rtt))
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"accept", server}, {"rtt", rtt}, {"update", update}} {
		b.ReportMetric(q(m.ds, 0.50), m.name+"-p50-ns")
		b.ReportMetric(q(m.ds, 0.99), m.name+"-p99-ns")
	}
	b.ReportMetric(q(server, 0.99)/q(update, 0.99), "p99-x-update")
	b.ReportMetric(q(server, 0.50)/q(update, 0.50), "p50-x-update")
}
