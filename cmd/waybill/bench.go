package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
)

// Limits that keep one bench run bounded in time and in requests.
const (
	benchMaxDuration = 30 * time.Minute
	benchMaxRequests = 2_000_000
	// benchCapacity is the seats each departure gets, at most booking's limit per class.
	benchCapacity = 10_000
)

// bench dispatches `waybill bench <workload>`.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "ride" {
		return benchRide(ctx, args[1:], getenv, stdout)
	}
	if len(args) == 0 || args[0] != "reserve" {
		return errors.New("bench: which workload? reserve or ride (waybill bench reserve -h, waybill bench ride -h)")
	}
	return benchReserve(ctx, args[1:], getenv, stdout)
}

// reserveBench is the configuration of `waybill bench reserve`.
type reserveBench struct {
	loadFlags
	departures int
	customers  int
	confirm    bool
	rawURL     string
	rawConns   int
}

// benchReserve drives the reservation write path through the REST gateway with an open
// loop: request i is due at start + i/rate whatever became of the earlier ones, and its
// latency counts from that due time, so a slow server shows up as latency instead of as
// a slower client (coordinated omission).
func benchReserve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill bench reserve", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var c reserveBench
	c.register(fs, "reservations", 500, "reservations started per second (fixed arrival rate; W1 is 500/s = 30,000/min)", "deadline of each HTTP request")
	fs.IntVar(&c.departures, "departures", 16, "departures to spread the holds over (raised if their seats would not suffice)")
	fs.IntVar(&c.customers, "customers", 64, "distinct customers holding seats")
	fs.BoolVar(&c.confirm, "confirm", true, "confirm each hold; a reservation is then hold + confirm")
	fs.StringVar(&c.rawURL, "raw-database-url", "", "instead of the gateway, drive the raw baseline at the same rate: per reservation, a counter update and an insert in one transaction, then a counter update, straight on this (loopback) PostgreSQL, in a scratch schema dropped afterwards")
	fs.IntVar(&c.rawConns, "raw-conns", 20, "pool size of the raw baseline (booking's default --db-max-conns)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	return c.run(ctx, stdout)
}

func (c *reserveBench) validate() error {
	if err := c.loadFlags.validate("reservations"); err != nil {
		return err
	}
	if c.departures < 1 || c.customers < 1 {
		return errors.New("--departures and --customers must be positive")
	}
	if c.rawURL != "" {
		u, err := url.Parse(c.rawURL)
		if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" || !isLoopback(u.Hostname()) || c.rawConns < 1 {
			return errors.New("--raw-database-url must be a postgres:// URL on a loopback address, and --raw-conns positive")
		}
	}
	return nil
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requestCount is the number of requests due within d at rate per second.
func requestCount(rate float64, d time.Duration) int {
	return int(math.Floor(rate * d.Seconds()))
}

// dueOffset is when request i is due, after the start, at rate per second. It is
// computed from i, never by adding intervals, so the schedule does not drift.
func dueOffset(rate float64, i int) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / rate)
}

// benchClient calls the gateway.
type benchClient struct {
	base string
	http *http.Client
}

func newBenchClient(base string, timeout time.Duration, conns int) *benchClient {
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &benchClient{base: base, http: &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// Never follow a redirect away from the address we were given.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// callError is a failed call: its HTTP status, or 0 when there was no answer.
type callError struct {
	status int
	msg    string
}

func (e *callError) Error() string { return e.msg }

// post sends body to path as token and decodes a 200 answer into out (when not nil).
func (bc *benchClient) post(ctx context.Context, token, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, bc.base+path, bytes.NewReader(body))
	if err != nil {
		return &callError{msg: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := bc.http.Do(req)
	if err != nil {
		return &callError{msg: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return &callError{msg: err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return &callError{status: resp.StatusCode, msg: fmt.Sprintf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(raw))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &callError{status: resp.StatusCode, msg: fmt.Sprintf("POST %s: decode: %v", path, err)}
		}
	}
	return nil
}

// setup creates, as an operator, a rate card for a route unique to this run and enough
// departures on it for every hold; it returns the departures' ids.
func (c *reserveBench) setup(ctx context.Context, bc *benchClient, signer *auth.Signer, runID string, total int) ([]string, error) {
	ops, err := signer.Sign(auth.Identity{Subject: "bench-ops", Role: auth.RoleOperator}, time.Hour)
	if err != nil {
		return nil, err
	}
	origin, dest := "B"+runID, "E"+runID
	card := fmt.Sprintf(`{"rateCard":{"productKey":{"seat":{"carrier":"WB","origin":%q,"destination":%q,"fareClass":"economy"}},"currencyCode":"EUR","inventory":{"unitPrice":{"amountMinor":"10000","currencyCode":"EUR"}}},"requestId":"bench-card-%s"}`, origin, dest, runID)
	if err := bc.post(ctx, ops, "/v1/rateCards", []byte(card), nil); err != nil {
		return nil, fmt.Errorf("create rate card: %w", err)
	}
	// Leave a margin of a tenth, so that uneven spreading never runs a departure out.
	need := (total*11/10)/c.departures + 1
	k := c.departures
	if need > benchCapacity {
		k = (total*11/10)/benchCapacity + 1
		need = benchCapacity
	}
	first := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	ids := make([]string, k)
	for i := range ids {
		at := first.Add(time.Duration(i) * time.Hour)
		dep := fmt.Sprintf(`{"departure":{"mode":"TRANSPORT_MODE_FLIGHT","carrier":"WB","number":"%d","origin":%q,"destination":%q,"departureTime":%q,"arrivalTime":%q,"originTimeZone":"Europe/Berlin","fareClasses":[{"name":"economy","capacity":%d}]},"requestId":"bench-dep-%s-%d"}`,
			i+1, origin, dest, at.Format(time.RFC3339), at.Add(8*time.Hour).Format(time.RFC3339), need, runID, i)
		var out struct {
			Departure struct {
				ID string `json:"id"`
			} `json:"departure"`
		}
		if err := bc.post(ctx, ops, "/v1/departures", []byte(dep), &out); err != nil {
			return nil, fmt.Errorf("create departure: %w", err)
		}
		ids[i] = out.Departure.ID
	}
	return ids, nil
}

// benchResult is what became of one scheduled reservation.
type benchResult struct {
	measured bool          // due after the warm-up
	err      string        // "" when it succeeded, else "<step> <status>"
	total    time.Duration // from the due time to the last answer
	hold     time.Duration // the hold call alone
	done     time.Time
}

// benchStats aggregates results.
type benchStats struct {
	mu       sync.Mutex
	ok       int
	errs     map[string]int
	firstErr map[string]string
	total    histogram
	hold     histogram
	lastDone time.Time
	warmErrs int
}

func (s *benchStats) add(r benchResult, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.measured {
		if r.err != "" {
			s.warmErrs++
		}
		return
	}
	if r.done.After(s.lastDone) {
		s.lastDone = r.done
	}
	if r.err != "" {
		s.errs[r.err]++
		if _, ok := s.firstErr[r.err]; !ok {
			s.firstErr[r.err] = msg
		}
		return
	}
	s.ok++
	s.total.record(r.total)
	s.hold.record(r.hold)
}

func (c *reserveBench) run(ctx context.Context, stdout io.Writer) error {
	signer, err := auth.NewSigner(c.secret)
	if err != nil {
		return err
	}
	total := requestCount(c.rate, c.warmup+c.duration)
	warm := requestCount(c.rate, c.warmup)
	bc := newBenchClient(c.gateway, c.timeout, min(c.maxInFlight, 1024))
	// The whole run is bounded: setup, the schedule, and the last request's deadline.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+c.warmup+c.duration+2*c.timeout)
	defer cancel()

	runID := strconv.FormatInt(time.Now().UnixNano()%1e8, 36)
	var do func(ctx context.Context, i int, due time.Time) (benchResult, string)
	if c.rawURL != "" {
		raw, err := newRawBaseline(ctx, c.rawURL, c.rawConns, runID, c.departures, total)
		if err != nil {
			return err
		}
		defer raw.close()
		do = raw.reserve
		fmt.Fprintf(stdout, "waybill bench reserve, RAW BASELINE: PostgreSQL %s, %.0f reservations/s (%.0f/min), warm-up %s, measured %s, %d counters, %d connections\n",
			raw.pool.Config().ConnConfig.Host, c.rate, c.rate*60, c.warmup, c.duration, c.departures, c.rawConns)
	} else {
		deps, err := c.setup(ctx, bc, signer, runID, total)
		if err != nil {
			return err
		}
		tokens := make([]string, c.customers)
		for i := range tokens {
			if tokens[i], err = signer.Sign(auth.Identity{Subject: fmt.Sprintf("bench-%s-c%d", runID, i), Role: auth.RoleCustomer}, 2*time.Hour); err != nil {
				return err
			}
		}
		do = func(ctx context.Context, i int, due time.Time) (benchResult, string) {
			return c.reserve(ctx, bc, tokens[i%len(tokens)], deps[i%len(deps)], runID, i, due)
		}
		fmt.Fprintf(stdout, "waybill bench reserve: %s, %.0f reservations/s (%.0f/min), warm-up %s, measured %s, %d departures, %d customers, confirm=%t\n",
			c.gateway, c.rate, c.rate*60, c.warmup, c.duration, len(deps), c.customers, c.confirm)
	}

	stats := &benchStats{errs: map[string]int{}, firstErr: map[string]string{}}
	start := time.Now().Add(20 * time.Millisecond)
	measureStart := start.Add(dueOffset(c.rate, warm))
	cpu := startCPU(ctx, c.cpuPID, c.cpuDBURL, measureStart)
	err = openLoop(ctx, start, c.rate, total, warm, c.maxInFlight,
		func(measured bool) {
			stats.add(benchResult{measured: measured, err: "client over --max-in-flight", done: time.Now()}, "")
		},
		func(i int, due time.Time, measured bool) {
			r, msg := do(ctx, i, due)
			r.measured = measured
			stats.add(r, msg)
		})
	if err != nil {
		return err
	}
	c.report(stdout, stats, measureStart, total-warm)
	if cpu != nil {
		cpu.finish(ctx, stdout, stats.ok, "reservation")
	}
	return nil
}

// reserve holds one seat and confirms it, timing from due.
func (c *reserveBench) reserve(ctx context.Context, bc *benchClient, token, dep, runID string, i int, due time.Time) (benchResult, string) {
	hold := fmt.Sprintf(`{"reservation":{"seat":{"departureId":%q,"fareClass":"economy"},"quantity":1,"travelers":[{"fullName":"Bench Traveler"}]},"requestId":"bench-%s-h%d"}`, dep, runID, i)
	var created struct {
		Reservation struct {
			ID string `json:"id"`
		} `json:"reservation"`
	}
	t0 := time.Now()
	err := bc.post(ctx, token, "/v1/reservations", []byte(hold), &created)
	r := benchResult{hold: time.Since(t0)}
	step := "hold"
	if err == nil && c.confirm {
		step = "confirm"
		body := fmt.Sprintf(`{"requestId":"bench-%s-c%d"}`, runID, i)
		err = bc.post(ctx, token, "/v1/reservations/"+created.Reservation.ID+":confirm", []byte(body), nil)
	}
	r.done = time.Now()
	r.total = r.done.Sub(due)
	if err != nil {
		var ce *callError
		status := "no answer"
		if errors.As(err, &ce) && ce.status != 0 {
			status = strconv.Itoa(ce.status)
		}
		r.err = step + " " + status
		return r, err.Error()
	}
	return r, ""
}

// rawBaseline is the same-run baseline of the reservation write path: the raw
// transactions a reservation needs at least (take a unit from a counter and record the
// reservation in one transaction, then move the unit from held to sold), with durable
// commits, on the same PostgreSQL and at the same arrival rate, without any service.
type rawBaseline struct {
	pool   *pgxpool.Pool
	schema string
	k      int
}

func newRawBaseline(ctx context.Context, dbURL string, conns int, runID string, k, total int) (*rawBaseline, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &rawBaseline{pool: pool, schema: "bench_raw_" + runID, k: k}
	_, err = pool.Exec(ctx, fmt.Sprintf(`
		CREATE SCHEMA %[1]s;
		CREATE TABLE %[1]s.counter (id int PRIMARY KEY, capacity int NOT NULL, held int NOT NULL DEFAULT 0, sold int NOT NULL DEFAULT 0);
		CREATE TABLE %[1]s.reservation (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), counter_id int NOT NULL, request_id text NOT NULL UNIQUE, create_time timestamptz NOT NULL DEFAULT now());
		INSERT INTO %[1]s.counter (id, capacity) SELECT g, %[2]d FROM generate_series(0, %[3]d) g;`,
		r.schema, total+1, k-1))
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("create the raw baseline's schema: %w", err)
	}
	return r, nil
}

func (r *rawBaseline) reserve(ctx context.Context, i int, due time.Time) (benchResult, string) {
	t0 := time.Now()
	counter := i % r.k
	tx, err := r.pool.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `UPDATE `+r.schema+`.counter SET held = held + 1 WHERE id = $1 AND held + sold + 1 <= capacity`, counter)
		if err == nil {
			_, err = tx.Exec(ctx, `INSERT INTO `+r.schema+`.reservation (counter_id, request_id) VALUES ($1, $2)`, counter, strconv.Itoa(i))
		}
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			_ = tx.Rollback(ctx)
		}
	}
	res := benchResult{hold: time.Since(t0)}
	if err == nil {
		_, err = r.pool.Exec(ctx, `UPDATE `+r.schema+`.counter SET held = held - 1, sold = sold + 1 WHERE id = $1`, counter)
	}
	res.done = time.Now()
	res.total = res.done.Sub(due)
	if err != nil {
		res.err = "raw transaction"
		return res, err.Error()
	}
	return res, ""
}

func (r *rawBaseline) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = r.pool.Exec(ctx, `DROP SCHEMA `+r.schema+` CASCADE`)
	r.pool.Close()
}

// report prints throughput, errors and percentiles of the measured reservations.
func (c *reserveBench) report(w io.Writer, s *benchStats, measureStart time.Time, scheduled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nerr := 0
	for _, n := range s.errs {
		nerr += n
	}
	elapsed := s.lastDone.Sub(measureStart)
	if elapsed < c.duration {
		elapsed = c.duration
	}
	rate := float64(s.ok) / elapsed.Seconds()
	fmt.Fprintf(w, "scheduled %d, succeeded %d, failed %d (warm-up failures %d)\n", scheduled, s.ok, nerr, s.warmErrs)
	fmt.Fprintf(w, "throughput %.1f reservations/s = %.0f/min over %.2fs (offered %.1f/s)\n", rate, rate*60, elapsed.Seconds(), c.rate)
	what := "hold"
	switch {
	case c.rawURL != "":
		what = "raw transactions"
	case c.confirm:
		what = "hold+confirm"
	}
	fmt.Fprintf(w, "latency from the scheduled time (%s): %s\n", what, s.total.summary())
	fmt.Fprintf(w, "first call alone (from its send): %s\n", s.hold.summary())
	if nerr > 0 {
		keys := make([]string, 0, len(s.errs))
		for k := range s.errs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintln(w, "errors by status:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %-28s %d  (first: %.160s)\n", k, s.errs[k], s.firstErr[k])
		}
	}
	p95, p99 := s.total.quantile(0.95), s.total.quantile(0.99)
	met := rate*60 >= 30000 && p95 <= 50*time.Millisecond && p99 <= 150*time.Millisecond && nerr == 0 && s.ok > 0
	verdict := "NOT met"
	if met {
		verdict = "met"
	}
	fmt.Fprintf(w, "W1 (>= 30,000/min, p95 <= 50 ms, p99 <= 150 ms, no errors): %s\n", verdict)
}

// histogram is a log-bucketed latency histogram in the manner of HdrHistogram: values
// in microseconds, each power of two split into histSub linear buckets, so any value is
// kept within 1/histSub of itself (about 1.6%) in constant memory. The maximum is exact.
type histogram struct {
	counts [64 * histSub]uint64
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits
)

// bucketOf returns the bucket of v microseconds. Values below histSub have a bucket
// each; above, the bucket is the power of two and the next histSubBits bits.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // bits below the kept ones
	return (e+1)*histSub + int(v>>e) - histSub
}

// bucketHigh returns the largest value, in microseconds, that falls in bucket b.
func bucketHigh(b int) uint64 {
	if b < histSub {
		return uint64(b)
	}
	e := b/histSub - 1
	top := uint64(b%histSub + histSub)
	return (top+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[bucketOf(uint64(us))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the value below which a fraction q of the samples lie (the upper
// edge of its bucket, never above the maximum); 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketHigh(b))*time.Microsecond, h.max)
		}
	}
	return h.max
}

func (h *histogram) summary() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	return fmt.Sprintf("p50 %s ms  p95 %s ms  p99 %s ms  max %s ms  (n=%d)",
		ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.max), h.n)
}
