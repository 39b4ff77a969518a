package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
)

// rideBench is the configuration of `waybill bench ride`.
type rideBench struct {
	loadFlags
	drivers  int
	billWait time.Duration
}

// benchRide drives ride requests through the REST gateway at a fixed arrival rate (open
// loop, as bench reserve), with simulated drivers that accept every offer as soon as
// their offer stream (NDJSON) shows it. Each ride is followed on the rider's trip stream
// until a driver is assigned (R1's latency, counted from the request's due time), then
// the driver starts and ends it, and the rider's bills are polled until the ride is on
// one (the fraction billed within 1 s of the end). Every run uses a ride product of its
// own in berlin, so runs do not meet, and every ride a rider of its own.
func benchRide(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill bench ride", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var c rideBench
	c.register(fs, "rides", 50, "ride requests per second (fixed arrival rate; R1 is 50/s)", "deadline of each HTTP request, and of the wait for a driver")
	fs.IntVar(&c.drivers, "drivers", 100, "simulated drivers around the pickup, each accepting every offer at once")
	fs.DurationVar(&c.billWait, "bill-wait", 10*time.Second, "how long to look for an ended ride on the rider's bill")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	return c.run(ctx, stdout)
}

func (c *rideBench) validate() error {
	if err := c.loadFlags.validate("rides"); err != nil {
		return err
	}
	if c.drivers < 1 || c.drivers > 10_000 || c.billWait <= 0 {
		return errors.New("--drivers (1 to 10,000) and --bill-wait must be positive")
	}
	return nil
}

// The pickup area of the rides: around Alexanderplatz, Berlin; the drop-off is fixed.
const (
	benchRideLat, benchRideLng = 52.5219, 13.4132
	benchRideDropoff           = `{"latitude":52.5096,"longitude":13.3759}`
)

// rideStats aggregates the measured rides.
type rideStats struct {
	mu             sync.Mutex
	assigned       int
	errs           map[string]int
	firstErr       map[string]string
	toAssigned     histogram // due → the rider's stream shows DRIVER_ASSIGNED
	request        histogram // the RequestTrip call alone
	ended          int
	billedIn1s     int
	billed         int
	toBilled       histogram // the driver's EndTrip answer → the ride on a bill
	lastAssignedAt time.Time
	warmErrs       int
}

func (s *rideStats) fail(measured bool, step, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !measured {
		s.warmErrs++
		return
	}
	s.errs[step]++
	if _, ok := s.firstErr[step]; !ok {
		s.firstErr[step] = msg
	}
}

func (c *rideBench) run(ctx context.Context, stdout io.Writer) error {
	signer, err := auth.NewSigner(c.secret)
	if err != nil {
		return err
	}
	total := requestCount(c.rate, c.warmup+c.duration)
	warm := requestCount(c.rate, c.warmup)
	bc := newBenchClient(c.gateway, c.timeout, min(c.maxInFlight, 1024))
	// Streams stay open longer than a call: their own client, no overall timeout.
	streams := newBenchClient(c.gateway, 0, min(c.maxInFlight+c.drivers, 4096))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+c.warmup+c.duration+c.timeout+c.billWait)
	defer cancel()

	runID := strconv.FormatInt(time.Now().UnixNano()%1e8, 36)
	product := "bench_" + runID
	if err := c.setup(ctx, bc, streams, signer, runID, product); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "waybill bench ride: %s, %.0f ride requests/s, warm-up %s, measured %s, %d simulated drivers, product %s\n",
		c.gateway, c.rate, c.warmup, c.duration, c.drivers, product)

	stats := &rideStats{errs: map[string]int{}, firstErr: map[string]string{}}
	start := time.Now().Add(20 * time.Millisecond)
	measureStart := start.Add(dueOffset(c.rate, warm))
	cpu := startCPU(ctx, c.cpuPID, c.cpuDBURL, measureStart)
	err = openLoop(ctx, start, c.rate, total, warm, c.maxInFlight,
		func(measured bool) { stats.fail(measured, "client over --max-in-flight", "") },
		func(i int, due time.Time, measured bool) {
			c.ride(ctx, bc, streams, signer, stats, runID, product, i, due, measured)
		})
	if err != nil {
		return err
	}
	c.report(stdout, stats, measureStart, total-warm)
	if cpu != nil {
		stats.mu.Lock()
		rides := stats.ended
		stats.mu.Unlock()
		// The window ends after the last measured ride ended (billed or given up).
		cpu.finish(ctx, stdout, rides, "ride")
	}
	return nil
}

// setup creates the run's ride rate card and its drivers, online around the pickup, each
// following its offer stream and accepting every offer.
func (c *rideBench) setup(ctx context.Context, bc, streams *benchClient, signer *auth.Signer, runID, product string) error {
	ops, err := signer.Sign(auth.Identity{Subject: "bench-ops", Role: auth.RoleOperator}, 2*time.Hour)
	if err != nil {
		return err
	}
	card := fmt.Sprintf(`{"rateCard":{"productKey":{"ride":{"city":"berlin","product":%q}},"currencyCode":"EUR","ride":{"baseFare":{"amountMinor":"300","currencyCode":"EUR"},"perKilometer":{"amountMinor":"150","currencyCode":"EUR"},"perMinute":{"amountMinor":"30","currencyCode":"EUR"},"minimumFare":{"amountMinor":"800","currencyCode":"EUR"}}},"requestId":"bench-ride-card-%s"}`, product, runID)
	if err := bc.post(ctx, ops, "/v1/rateCards", []byte(card), nil); err != nil {
		return fmt.Errorf("create the ride rate card: %w", err)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range c.drivers {
		var created struct {
			Driver struct {
				ID string `json:"id"`
			} `json:"driver"`
		}
		d := fmt.Sprintf(`{"name":"Bench Driver %d","city":"berlin","vehicle":{"plate":"B-%s %d","model":"Bench","products":[%q]}}`, i, strings.ToUpper(runID), i, product)
		if err := bc.post(ctx, ops, "/v1/drivers", []byte(d), &created); err != nil {
			return fmt.Errorf("create driver: %w", err)
		}
		id := created.Driver.ID
		tok, err := signer.Sign(auth.Identity{Subject: id, Role: auth.RoleDriver}, 2*time.Hour)
		if err != nil {
			return err
		}
		if err := bc.post(ctx, tok, "/v1/drivers/"+id+":setAvailability", []byte(`{"online":true}`), nil); err != nil {
			return fmt.Errorf("driver online: %w", err)
		}
		lat, lng := benchRideLat+(r.Float64()-0.5)*0.02, benchRideLng+(r.Float64()-0.5)*0.03
		loc := fmt.Sprintf(`{"location":{"point":{"latitude":%f,"longitude":%f},"fixTime":%q}}`, lat, lng, time.Now().UTC().Format(time.RFC3339Nano))
		if err := bc.post(ctx, tok, "/v1/drivers/"+id+":updateLocation", []byte(loc), nil); err != nil {
			return fmt.Errorf("driver location: %w", err)
		}
		go acceptOffers(ctx, bc, streams, tok, id)
	}
	return nil
}

// acceptOffers follows driver id's offer stream until ctx ends and accepts every pending
// offer at once, as a driver's app whose driver always says yes.
func acceptOffers(ctx context.Context, bc, streams *benchClient, token, id string) {
	for ctx.Err() == nil {
		_ = streams.stream(ctx, token, "/v1/drivers/"+id+"/offers:watch", func(line []byte) bool {
			var msg struct {
				Result struct {
					Offer struct{ ID, Status string } `json:"offer"`
				} `json:"result"`
			}
			if json.Unmarshal(line, &msg) == nil && msg.Result.Offer.Status == "OFFER_STATUS_PENDING" {
				_ = bc.post(ctx, token, "/v1/offers/"+msg.Result.Offer.ID+":accept", []byte(`{}`), nil)
			}
			return true
		})
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stream GETs an NDJSON stream and calls each for every line until each returns false,
// the stream ends or ctx ends.
func (bc *benchClient) stream(ctx context.Context, token, path string, each func(line []byte) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, bc.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := bc.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &callError{status: resp.StatusCode, msg: fmt.Sprintf("GET %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(raw)))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if !each(sc.Bytes()) {
			return nil
		}
	}
	return sc.Err()
}

// get GETs path as token and decodes a 200 answer into out.
func (bc *benchClient) get(ctx context.Context, token, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, bc.base+path, nil)
	if err != nil {
		return &callError{msg: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := bc.http.Do(req)
	if err != nil {
		return &callError{msg: err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &callError{status: resp.StatusCode, msg: fmt.Sprintf("GET %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(raw)))}
	}
	return json.Unmarshal(raw, out)
}

// statusOf names a failed call by its HTTP status.
func statusOf(err error) string {
	var ce *callError
	if errors.As(err, &ce) && ce.status != 0 {
		return strconv.Itoa(ce.status)
	}
	return "no answer"
}

// benchRiders counts the riders of a process's runs, so that every ride has its own.
var benchRiders atomic.Int64

// ride runs ride i, due at due: request, wait for the driver on the rider's stream,
// start and end as that driver, then look for the ride on the rider's bills.
func (c *rideBench) ride(ctx context.Context, bc, streams *benchClient, signer *auth.Signer, s *rideStats, runID, product string, i int, due time.Time, measured bool) {
	rider := fmt.Sprintf("bench-%s-r%d", runID, benchRiders.Add(1))
	tok, err := signer.Sign(auth.Identity{Subject: rider, Role: auth.RoleCustomer}, 2*time.Hour)
	if err != nil {
		s.fail(measured, "token", err.Error())
		return
	}
	body := fmt.Sprintf(`{"customerId":%q,"pickup":{"latitude":%f,"longitude":%f},"dropoff":%s,"product":%q,"city":"berlin","requestId":"bench-%s-%d"}`,
		rider, benchRideLat, benchRideLng, benchRideDropoff, product, runID, i)
	var created struct {
		Trip struct{ ID string } `json:"trip"`
	}
	t0 := time.Now()
	if err := bc.post(ctx, tok, "/v1/trips", []byte(body), &created); err != nil {
		s.fail(measured, "request "+statusOf(err), err.Error())
		return
	}
	requestTook := time.Since(t0)
	id := created.Trip.ID
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	var driver, status string
	assignedAt := time.Time{}
	err = streams.stream(wctx, tok, "/v1/trips/"+id+":watch", func(line []byte) bool {
		var msg struct {
			Result struct {
				Trip struct{ Status, DriverID string } `json:"trip"`
			} `json:"result"`
		}
		if json.Unmarshal(line, &msg) != nil {
			return true
		}
		status = msg.Result.Trip.Status
		if status == "TRIP_STATUS_DRIVER_ASSIGNED" {
			assignedAt, driver = time.Now(), msg.Result.Trip.DriverID
			return false
		}
		return status != "TRIP_STATUS_CANCELLED"
	})
	cancel()
	if assignedAt.IsZero() {
		msg := fmt.Sprintf("trip %s: no driver within --timeout (last status %q, %v)", id, status, err)
		s.fail(measured, "no driver assigned", msg)
		// Give the ride up, so that a driver who accepts late is released.
		_ = bc.post(ctx, tok, "/v1/trips/"+id+":cancel", []byte(`{"reason":"bench_timeout"}`), nil)
		return
	}
	if measured {
		s.mu.Lock()
		s.assigned++
		s.toAssigned.record(assignedAt.Sub(due))
		s.request.record(requestTook)
		if assignedAt.After(s.lastAssignedAt) {
			s.lastAssignedAt = assignedAt
		}
		s.mu.Unlock()
	}
	// The ride itself: start and end at once (fare prices it from its request).
	dtok, err := signer.Sign(auth.Identity{Subject: driver, Role: auth.RoleDriver}, 2*time.Hour)
	if err != nil {
		s.fail(measured, "token", err.Error())
		return
	}
	if err := bc.post(ctx, dtok, "/v1/trips/"+id+":start", []byte(`{}`), nil); err != nil {
		s.fail(measured, "start "+statusOf(err), err.Error())
		return
	}
	if err := bc.post(ctx, dtok, "/v1/trips/"+id+":end", []byte(`{"dropoff":`+benchRideDropoff+`}`), nil); err != nil {
		s.fail(measured, "end "+statusOf(err), err.Error())
		return
	}
	endedAt := time.Now()
	billedAt := time.Time{}
	for time.Since(endedAt) < c.billWait && ctx.Err() == nil {
		var bills struct {
			Bills []struct {
				Items []struct {
					ReservationID string `json:"reservationId"`
				} `json:"items"`
			} `json:"bills"`
		}
		if bc.get(ctx, tok, "/v1/bills?customerId="+rider, &bills) == nil {
			for _, b := range bills.Bills {
				for _, it := range b.Items {
					if it.ReservationID == id {
						billedAt = time.Now()
					}
				}
			}
		}
		if !billedAt.IsZero() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !measured {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended++
	if !billedAt.IsZero() {
		s.billed++
		s.toBilled.record(billedAt.Sub(endedAt))
		if billedAt.Sub(endedAt) <= time.Second {
			s.billedIn1s++
		}
	}
}

// report prints R1's figures: rides assigned per second, request → driver assigned
// percentiles, and the fraction of ended rides billed within 1 s.
func (c *rideBench) report(w io.Writer, s *rideStats, measureStart time.Time, scheduled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nerr := 0
	for _, n := range s.errs {
		nerr += n
	}
	elapsed := max(s.lastAssignedAt.Sub(measureStart), c.duration)
	rate := float64(s.assigned) / elapsed.Seconds()
	fmt.Fprintf(w, "scheduled %d, assigned %d, failed %d (warm-up failures %d)\n", scheduled, s.assigned, nerr, s.warmErrs)
	fmt.Fprintf(w, "throughput %.1f rides assigned/s over %.2fs (offered %.1f/s)\n", rate, elapsed.Seconds(), c.rate)
	fmt.Fprintf(w, "request → driver assigned (from the scheduled time, as the rider's stream shows it): %s\n", s.toAssigned.summary())
	fmt.Fprintf(w, "RequestTrip call alone: %s\n", s.request.summary())
	frac := 0.0
	if s.ended > 0 {
		frac = float64(s.billedIn1s) / float64(s.ended)
	}
	fmt.Fprintf(w, "ended %d, billed %d; billed within 1 s of the end: %.1f%%; end → on a bill: %s\n", s.ended, s.billed, 100*frac, s.toBilled.summary())
	if nerr > 0 {
		fmt.Fprintln(w, "errors by step:")
		for k, n := range s.errs {
			fmt.Fprintf(w, "  %-28s %d  (first: %.200s)\n", k, n, s.firstErr[k])
		}
	}
	met := rate >= 0.95*c.rate && c.rate >= 50 && s.toAssigned.quantile(0.95) <= 200*time.Millisecond && nerr == 0 && s.assigned > 0
	verdict := "NOT met"
	if met {
		verdict = "met"
	}
	fmt.Fprintf(w, "R1 (50 requests/s, request → driver assigned p95 <= 200 ms, no errors): %s\n", verdict)
}
