package matchinggrpc_test

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/matching/matchingapp"
	"github.com/waybill/waybill/services/matching/matchingpg"
)

// M1 over gRPC on loopback. The city is the in-process benchmark's
// (services/matching/matching/bench_test.go): 100,000 online drivers around five
// hotspots (normally distributed, σ ≈ 3 km), 85 % AVAILABLE, 15 % ON_TRIP, all with a
// fresh fix; searches at points drawn the same way, k = 10 within the default 3 km.
//
// The drivers are written straight into a fresh database (COPY into driver and
// driver_location) and the server is started on it (grpctest.WithPool), so its index is
// filled by the same rebuild a restarted replica runs; the benchmark waits for health
// SERVING, which the service reports only once the rebuild is done.
const (
	cityDrivers     = 100_000
	searchRate      = 2_000  // searches a second (M1)
	ingestRate      = 50_000 // location updates a second (M1)
	ingestStreams   = 200    // drivers streaming at once, one connection each
	openLoopWarmup  = time.Second
	ingestHeadStart = 500 * time.Millisecond // ingest runs this long before searches start
)

var cityHotspots = []struct {
	city     string
	lat, lng float64
}{
	{"berlin", 52.5200, 13.4050},
	{"hanover", 52.3759, 9.7320},
	{"munich", 48.1351, 11.5820},
	{"frankfurt", 50.1109, 8.6821},
	{"hamburg", 53.5511, 9.9937},
}

// cityPoint draws a point around a random hotspot (σ = 0.027° of latitude, 3 km).
func cityPoint(r *rand.Rand) (city string, lat, lng float64) {
	h := cityHotspots[r.IntN(len(cityHotspots))]
	return h.city, h.lat + r.NormFloat64()*0.027, h.lng + r.NormFloat64()*0.027/0.62
}

// serviceID is the identity searches (and the baseline's health checks) call with: the
// harness's service client's, so they share its connection.
var serviceID = auth.Identity{Subject: "trip", Role: auth.RoleService}

// benchServer is matching on loopback over a database holding the city.
type benchServer struct {
	*harness
	available []string              // ids of the AVAILABLE drivers, in load order
	where     map[string][2]float64 // their loaded positions
	pickups   []*typev1.GeoPoint
}

// startCity loads the city into a fresh database and starts matching on it with the
// default configuration except StaleAfter, raised to an hour so no fix of the load
// turns stale during a repetition (whether a fix is fresh is one comparison either way).
func startCity(b *testing.B) *benchServer {
	b.Helper()
	ctx := context.Background()
	// The pool as kit/serve makes it for a service: --db-max-conns is 20 by default
	// (pgtest.NewDB's pool keeps pgx's default, 4 on this machine).
	pool, err := pgxutil.Connect(ctx, pgtest.NewURL(b, pgtest.Schemas{matchingapp.Name: matchingpg.Migrations}),
		// No statement timeout: loading 100,000 drivers with COPY outlasts the default
		// on a loaded machine (the service's statements take far less either way).
		pgxutil.PoolConfig{Schema: matchingapp.Name, MaxConns: 20, ApplicationName: "matching-bench", StatementTimeout: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close) // before the database is dropped
	r := rand.New(rand.NewPCG(2026, 12))
	now := time.Now().UTC().Truncate(time.Microsecond)
	bs := &benchServer{where: map[string][2]float64{}}
	drivers := make([][]any, 0, cityDrivers)
	locations := make([][]any, 0, cityDrivers)
	for i := range cityDrivers {
		uuid, id := benchUUID(r)
		city, lat, lng := cityPoint(r)
		status := int16(2) // AVAILABLE
		if r.IntN(100) < 15 {
			status = 4 // ON_TRIP
		} else {
			bs.available = append(bs.available, id)
			bs.where[id] = [2]float64{lat, lng}
		}
		drivers = append(drivers, []any{uuid, "Dana Driver", city, fmt.Sprintf("B-M1 %d", i), "Toyota Prius",
			[]string{"standard"}, status, now, now, int64(1)})
		locations = append(locations, []any{uuid, lat, lng, now.Add(-time.Duration(r.IntN(30)) * time.Second), 5.0, 0.0, 0.0, now})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"driver"},
		[]string{"id", "name", "city", "vehicle_plate", "vehicle_model", "products", "status", "create_time", "update_time", "version"},
		pgx.CopyFromRows(drivers)); err != nil {
		b.Fatalf("copy drivers: %v", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"driver_location"},
		[]string{"driver_id", "latitude", "longitude", "fix_time", "accuracy_meters", "heading_degrees", "speed_mps", "save_time"},
		pgx.CopyFromRows(locations)); err != nil {
		b.Fatalf("copy driver locations: %v", err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE driver; ANALYZE driver_location"); err != nil {
		b.Fatal(err)
	}
	for range 4096 {
		_, lat, lng := cityPoint(r)
		bs.pickups = append(bs.pickups, &typev1.GeoPoint{Latitude: lat, Longitude: lng})
	}
	c := matchingapp.DefaultConfig()
	c.StaleAfter = time.Hour
	bs.harness = startWith(b, c, grpctest.WithPool(pool))
	health := healthpb.NewHealthClient(bs.srv.Conn(serviceID))
	grpctest.Eventually(b, time.Minute, "matching SERVING (index rebuilt)", func() bool {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	return bs
}

// benchUUID draws a version 4 UUID from r, as bytes (what COPY encodes without a
// detour through text) and as its string.
func benchUUID(r *rand.Rand) ([16]byte, string) {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], r.Uint64())
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u, fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// search is one SearchNearbyDrivers as a service (k = 10, 3 km) around pickup i; it
// returns how many drivers it found.
func (bs *benchServer) search(ctx context.Context, i int) (int, error) {
	resp, err := bs.service.SearchNearbyDrivers(ctx, &matchingv1.SearchNearbyDriversRequest{Pickup: bs.pickups[i%len(bs.pickups)]})
	return len(resp.GetDrivers()), err
}

// BenchmarkSearchOverGRPC measures SearchNearbyDrivers (k = 10 among 100,000 drivers)
// as a service through gRPC on loopback (the index's search alone: the index holds the
// drivers' records, so no PostgreSQL query) at a fixed arrival rate of 2,000 a second, against a baseline
// measured just before it on the same server, connection and rate: the gRPC health
// Check, an empty unary round trip through the same stack (tokens, telemetry,
// interceptors). Every repetition (-count) loads a fresh database and server, then
// runs the baseline for the benchmark time, then the searches for the benchmark time.
// Both are open loops (see openLoop); reported: the searches' p50-ns, p95-ns, p99-ns
// (and openLoop's other figures), the baseline's health-p50-ns, health-p95-ns,
// health-p99-ns, and the ratios p50-x-health and p99-x-health. M1: p99 ≤ 2 ms.
//
//	go test -run '^$' -bench SearchOverGRPC -benchtime 5s -count 3 ./services/matching/matchinggrpc/
func BenchmarkSearchOverGRPC(b *testing.B) {
	bs := startCity(b)
	ctx := benchContext(b)
	health := healthpb.NewHealthClient(bs.srv.Conn(serviceID))
	base := openLoop(ctx, searchRate, forBenchtime(), func(ctx context.Context, _ int) (int, error) {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return 0, err
	})
	got := openLoop(ctx, searchRate, b.Loop, bs.search)
	b.StopTimer()
	for _, l := range []latencies{base, got} {
		if l.err != nil {
			b.Fatal(l.err)
		}
	}
	got.report(b)
	base.reportQuantiles(b, "health-")
	b.ReportMetric(float64(got.p50)/float64(base.p50), "p50-x-health")
	b.ReportMetric(float64(got.p99)/float64(base.p99), "p99-x-health")
}

// BenchmarkIngestOverStreams measures location ingest over client streams
// (StreamDriverLocations; 200 drivers at once, each on a connection of their own as
// their own identity, moving a few meters a fix) while searches run at 2,000 a second
// (open loop, as BenchmarkSearchOverGRPC's). Every repetition loads a fresh database
// and server, then, each for the benchmark time:
//
//  1. searches alone: idle-p50-ns, idle-p95-ns, idle-p99-ns (the baseline);
//  2. searches while the streams send 50,000 fixes a second in all: the searches'
//     p50-ns, p95-ns, p99-ns (and openLoop's other figures; cpu-ns/call includes the
//     ingest's CPU), p99-x-idle, and updates/s: fixes the server accepted (by the
//     streams' summaries) per second of sending, and drain-ms: how long the summaries
//     took after the sending stopped (a server that fell behind works off its backlog
//     then);
//  3. for a third of the benchmark time, the streams as fast as they go, no searches:
//     max-updates/s, the ceiling (accepted fixes per second up to the last summary).
//
// M1: ≥ 50,000 updates/s with search p99 within 2× of idle.
//
//	go test -run '^$' -bench IngestOverStreams -benchtime 5s -count 3 ./services/matching/matchinggrpc/
func BenchmarkIngestOverStreams(b *testing.B) {
	bs := startCity(b)
	ctx := benchContext(b)
	drivers := bs.available[:ingestStreams]
	idle := openLoop(ctx, searchRate, forBenchtime(), bs.search)

	stop := bs.ingest(b, drivers, ingestRate)
	time.Sleep(ingestHeadStart)
	got := openLoop(ctx, searchRate, b.Loop, bs.search)
	b.StopTimer()
	rate, drain, rejected := stop()

	stopMax := bs.ingest(b, drivers, 0)
	time.Sleep(benchtime() / 3)
	maxRate, _, maxRejected := stopMax()

	for _, l := range []latencies{idle, got} {
		if l.err != nil {
			b.Fatal(l.err)
		}
	}
	if rejected+maxRejected > 0 {
		b.Fatalf("%d fixes rejected", rejected+maxRejected)
	}
	got.report(b)
	idle.reportQuantiles(b, "idle-")
	b.ReportMetric(float64(got.p99)/float64(idle.p99), "p99-x-idle")
	b.ReportMetric(rate, "updates/s")
	b.ReportMetric(float64(drain.Milliseconds()), "drain-ms")
	b.ReportMetric(maxRate, "max-updates/s")
}

// benchContext returns the context of a repetition's calls: grpctest.Context's 30 s
// bound the whole repetition (baseline, measurement, ingest phases), which a loaded
// machine exceeds; a call that hangs still fails the benchmark after 10 minutes.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// benchtime returns -test.benchtime as a duration: 1 s when it counts iterations.
func benchtime() time.Duration {
	if f := flag.Lookup("test.benchtime"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil {
			return d
		}
	}
	return time.Second
}

// forBenchtime returns a loop condition that holds for the benchmark time from its
// first call, as b.Loop does, for a baseline measured outside b.Loop.
func forBenchtime() func() bool {
	var end time.Time
	return func() bool {
		if end.IsZero() {
			end = time.Now().Add(benchtime())
		}
		return time.Now().Before(end)
	}
}

// fixClock hands out fix times, per driver strictly increasing (a fix not newer than
// the last is ignored) and never ahead of the clock by more than a microsecond a fix.
type fixClock struct{ last time.Time }

func (c *fixClock) next() time.Time {
	t := time.Now().UTC().Truncate(time.Microsecond)
	if !t.After(c.last) {
		t = c.last.Add(time.Microsecond)
	}
	c.last = t
	return t
}

var fixClocks sync.Map // driver id → *fixClock, across sub-benchmarks and -count

// ingest streams fixes of drivers, one stream each, at rate fixes a second in all (0:
// as fast as each stream goes) until stop is called. stop closes the streams and
// returns the fixes the server accepted (the streams' summaries) a second, how long
// the last summary took after the sending stopped (a server that fell behind works off
// its backlog then, up to the streams' flow-control windows), and how many fixes it
// rejected. The seconds are those of sending when paced (drain says whether the server
// kept up), and those up to the last summary when not (the backlog is most of drain).
func (bs *benchServer) ingest(b *testing.B, drivers []string, rate float64) (stop func() (perSecond float64, drain time.Duration, rejected int64)) {
	ctx := benchContext(b)
	done := make(chan struct{})
	var (
		wg                 sync.WaitGroup
		accepted, rejected atomic.Int64
		failure            atomic.Pointer[error]
	)
	fail := func(err error) { failure.CompareAndSwap(nil, &err) }
	begin := time.Now()
	for n, id := range drivers {
		client := bs.as(id)
		cl, _ := fixClocks.LoadOrStore(id, &fixClock{})
		clock := cl.(*fixClock)
		wg.Go(func() {
			st, err := client.StreamDriverLocations(ctx)
			if err != nil {
				fail(err)
				return
			}
			r := rand.New(rand.NewPCG(uint64(n), 7))
			p := bs.where[id]
			msg := &matchingv1.StreamDriverLocationsRequest{DriverId: id}
			send := func() error {
				p[0] += (r.Float64() - 0.5) * 1e-4 // ±5 m
				msg.Location = fix(p[0], p[1], clock.next())
				return st.Send(msg)
			}
			perStream := rate / float64(len(drivers))
			sent := 0
		loop:
			for {
				select {
				case <-done:
					break loop
				default:
				}
				if rate == 0 {
					if err := send(); err != nil {
						break loop // the server ended the stream: CloseAndRecv says why
					}
					continue
				}
				// Paced: send what is due, then sleep a little (10 ms ≈ 2.5 fixes).
				for due := int(time.Since(begin).Seconds() * perStream); sent < due; sent++ {
					if err := send(); err != nil {
						break loop
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			sum, err := st.CloseAndRecv()
			if err != nil {
				fail(fmt.Errorf("stream of %s: %w", id, err))
				return
			}
			accepted.Add(int64(sum.GetAcceptedCount()))
			rejected.Add(int64(sum.GetRejectedCount()))
		})
	}
	return func() (float64, time.Duration, int64) {
		sending := time.Since(begin)
		close(done)
		wg.Wait()
		drain := time.Since(begin) - sending
		if err := failure.Load(); err != nil {
			b.Fatal(*err)
		}
		perSecond := float64(accepted.Load()) / sending.Seconds()
		if rate == 0 { // the backlog is part of the work
			perSecond = float64(accepted.Load()) / (sending + drain).Seconds()
		}
		return perSecond, drain, rejected.Load()
	}
}

// latencies is what openLoop measured.
type latencies struct {
	// p50, p95, p99: latency counted from each call's scheduled time.
	p50, p95, p99 time.Duration
	// p99Sent: the 99th percentile counted from the actual send.
	p99Sent time.Duration
	// lagP99: how late sends left their schedule (timer overshoot, GC and CPU
	// contention on the client side), all counted in p99.
	lagP99 time.Duration
	// perSecond: calls completed a second; cpuPerCall: this process's CPU (client and
	// server, and whatever else runs in it) over the calls; gcPerSecond: garbage
	// collections a second; found: what the calls said they found, on average.
	perSecond, gcPerSecond, found float64
	cpuPerCall                    time.Duration
	// err is the first call's error, if any.
	err error
}

// openLoop calls call at a fixed arrival rate, each call on a goroutine of its own, while
// more holds (b.Loop or forBenchtime), after a second of warm-up at the same rate. The
// latencies count from each call's scheduled time, so a slow answer delays no later
// call and is not hidden.
func openLoop(ctx context.Context, rate float64, more func() bool, call func(ctx context.Context, i int) (found int, err error)) latencies {
	interval := time.Duration(float64(time.Second) / rate)
	type sample struct{ fromDue, fromSent, lag time.Duration }
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		samples []sample
		failed  atomic.Pointer[error]
		found   atomic.Int64
	)
	run := func(i int, due time.Time, record bool) {
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			sent := time.Now()
			n, err := call(ctx, i)
			end := time.Now()
			if err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
			if record {
				found.Add(int64(n))
				mu.Lock()
				samples = append(samples, sample{end.Sub(due), end.Sub(sent), sent.Sub(due)})
				mu.Unlock()
			}
		})
	}
	begin := time.Now()
	i := 0
	for ; time.Since(begin) < openLoopWarmup; i++ {
		run(i, begin.Add(time.Duration(i)*interval), false)
	}
	wg.Wait()
	begin, warm := time.Now(), i
	cpu0, gc0 := processCPU(), gcCount()
	for more() {
		run(i, begin.Add(time.Duration(i-warm)*interval), true)
		i++
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cpu, gcs := processCPU()-cpu0, gcCount()-gc0
	if err := failed.Load(); err != nil {
		return latencies{err: *err}
	}
	if len(samples) == 0 {
		return latencies{err: errors.New("no calls")}
	}
	pick := func(f func(sample) time.Duration, q float64) time.Duration {
		d := make([]time.Duration, len(samples))
		for i, s := range samples {
			d[i] = f(s)
		}
		slices.Sort(d)
		return d[min(len(d)-1, int(q*float64(len(d))))]
	}
	fromDue := func(s sample) time.Duration { return s.fromDue }
	return latencies{
		p50: pick(fromDue, 0.50), p95: pick(fromDue, 0.95), p99: pick(fromDue, 0.99),
		p99Sent:     pick(func(s sample) time.Duration { return s.fromSent }, 0.99),
		lagP99:      pick(func(s sample) time.Duration { return s.lag }, 0.99),
		perSecond:   float64(len(samples)) / elapsed.Seconds(),
		gcPerSecond: float64(gcs) / elapsed.Seconds(),
		found:       float64(found.Load()) / float64(len(samples)),
		cpuPerCall:  cpu / time.Duration(len(samples)),
	}
}

// reportQuantiles reports p50-ns, p95-ns and p99-ns, their names prefixed.
func (l latencies) reportQuantiles(b *testing.B, prefix string) {
	b.ReportMetric(float64(l.p50.Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(l.p95.Nanoseconds()), prefix+"p95-ns")
	b.ReportMetric(float64(l.p99.Nanoseconds()), prefix+"p99-ns")
}

// report reports all of l.
func (l latencies) report(b *testing.B) {
	l.reportQuantiles(b, "")
	b.ReportMetric(float64(l.p99Sent.Nanoseconds()), "p99-sent-ns")
	b.ReportMetric(float64(l.lagP99.Nanoseconds()), "lag-p99-ns")
	b.ReportMetric(l.perSecond, "calls/s")
	b.ReportMetric(float64(l.cpuPerCall.Nanoseconds()), "cpu-ns/call")
	b.ReportMetric(l.gcPerSecond, "gc/s")
	b.ReportMetric(l.found, "hits/call")
}

// processCPU returns the CPU time (user and system) this process has used: client and
// server together; PostgreSQL runs in processes of its own.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// gcCount returns the number of garbage collections so far.
func gcCount() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}
