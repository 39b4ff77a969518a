package bookinggrpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/waybill/waybill/gateway"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/telemetry"
)

// benchDepartures spreads the load over several departures, as real traffic is, so the
// benchmark measures the write path rather than one hot counter row.
const benchDepartures = 16

// latencies collects per-operation durations from parallel workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// report adds throughput (operations per second of wall time) and percentiles.
func (l *latencies) report(b *testing.B, elapsed time.Duration, unit string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 || elapsed <= 0 {
		return 0
	}
	slices.Sort(l.d)
	pct := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Microseconds()) / 1000
	}
	rate := float64(len(l.d)) / elapsed.Seconds()
	b.ReportMetric(rate, unit+"/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.95), "p95_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
	return rate
}

// BenchmarkReserve measures the reservation write path: one hold plus its confirmation
// per operation, from 8 parallel clients per core, through gRPC and through the REST
// gateway, with a same-run baseline of the same number of raw transactions (a counter
// update and an insert, then a counter update) straight on the pool. Throughput is
// reservations per second; raw_ratio is throughput divided by the raw baseline's.
func BenchmarkReserve(b *testing.B) {
	e := newEnv(b)
	e.routeCard(b)
	deps := make([]string, benchDepartures)
	for i := range deps {
		deps[i] = e.createDeparture(b, departure(time.Duration(72+i)*time.Hour, 10000)).GetId()
	}
	var next atomic.Int64
	pick := func() string { return deps[next.Add(1)%benchDepartures] }
	var raw float64

	b.Run("raw", func(b *testing.B) {
		var l latencies
		ctx := context.Background()
		// The insert goes to a table of the shape of booking's former idempotency keys
		// (three text columns as the primary key and a uuid), so that the baseline does
		// the same work in every version of the benchmark.
		if _, err := e.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_raw (actor text, operation text, request_id text,
			resource_id uuid NOT NULL, PRIMARY KEY (actor, operation, request_id))`); err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(8)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t0 := time.Now()
				dep := pick()
				tx, err := e.pool.Begin(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				_, err = tx.Exec(ctx, `UPDATE fare_class SET held = held + 1 WHERE departure_id = $1 AND name = 'economy' AND held + sold + 1 <= capacity`, dep)
				if err == nil {
					_, err = tx.Exec(ctx, `INSERT INTO bench_raw (actor, operation, request_id, resource_id) VALUES ('bench', 'raw', gen_random_uuid()::text, $1)`, dep)
				}
				if err == nil {
					err = tx.Commit(ctx)
				}
				if err == nil {
					_, err = e.pool.Exec(ctx, `UPDATE fare_class SET held = held - 1, sold = sold + 1 WHERE departure_id = $1 AND name = 'economy'`, dep)
				}
				if err != nil {
					_ = tx.Rollback(ctx)
					b.Error(err)
					return
				}
				l.add(time.Since(t0))
			}
		})
		raw = l.report(b, time.Since(start), "reservations")
		// Give the seats back for the next sub-benchmarks.
		if _, err := e.pool.Exec(ctx, `UPDATE fare_class SET sold = 0`); err != nil {
			b.Fatal(err)
		}
	})

	b.Run("grpc", func(b *testing.B) {
		var l latencies
		b.SetParallelism(8)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req := seatHold(pick(), 1)
				req.Reservation.CustomerId = "bench"
				r, err := e.svc.CreateReservation(ctx, req)
				if err == nil {
					_, err = e.svc.ConfirmReservation(ctx, &bookingv1.ConfirmReservationRequest{ReservationId: r.GetReservation().GetId()})
				}
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
				l.add(time.Since(t0))
			}
		})
		if rate := l.report(b, time.Since(start), "reservations"); raw > 0 {
			b.ReportMetric(rate/raw, "raw_ratio")
		}
	})

	b.Run("rest", func(b *testing.B) {
		tel, err := telemetry.Setup(context.Background(), "gateway-bench", func(string) string { return "" })
		if err != nil {
			b.Fatal(err)
		}
		// The gateway wants every service's address; only booking's is called (dialing is lazy).
		services := map[string]string{"booking": e.addr}
		for _, name := range []string{"matching", "trip", "fare", "billing", "payment"} {
			services[name] = "127.0.0.1:9"
		}
		gw, err := gateway.New(context.Background(), gateway.Config{Services: services, Timeout: 10 * time.Second, Auth: grpctest.Signer()},
			slog.New(slog.NewTextHandler(io.Discard, nil)), tel)
		if err != nil {
			b.Fatal(err)
		}
		defer gw.Close()
		srv := httptest.NewServer(gw.Handler())
		defer srv.Close()
		token, err := grpctest.Signer().Sign(auth.Identity{Subject: "billing", Role: auth.RoleService}, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
		post := func(path string, body []byte) ([]byte, error) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			out, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, out)
			}
			return out, err
		}
		var l latencies
		b.SetParallelism(8)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t0 := time.Now()
				req := seatHold(pick(), 1)
				req.Reservation.CustomerId = "bench"
				body, _ := protojson.Marshal(req)
				out, err := post("/v1/reservations", body)
				if err == nil {
					var created struct {
						Reservation struct {
							ID string `json:"id"`
						} `json:"reservation"`
					}
					if err = json.Unmarshal(out, &created); err == nil {
						_, err = post("/v1/reservations/"+created.Reservation.ID+":confirm", []byte(`{}`))
					}
				}
				if err != nil {
					b.Error(err)
					return
				}
				l.add(time.Since(t0))
			}
		})
		if rate := l.report(b, time.Since(start), "reservations"); raw > 0 {
			b.ReportMetric(rate/raw, "raw_ratio")
		}
	})
}
