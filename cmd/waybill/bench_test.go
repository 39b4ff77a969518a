package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/auth"
)

func TestHistogramBucketsKeepValuesClose(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/97 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d, below the previous value's %d", v, b, prev)
		}
		prev = b
		hi := bucketHigh(b)
		if hi < v {
			t.Fatalf("bucketHigh(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if float64(hi-v) > float64(v)/histSub+1 {
			t.Fatalf("value %d lands in a bucket reaching %d: more than 1/%d off", v, hi, histSub)
		}
		if b > 0 && bucketHigh(b-1) >= v {
			t.Fatalf("value %d also fits bucket %d ending at %d", v, b-1, bucketHigh(b-1))
		}
	}
	if b := bucketOf(1<<63 - 1); b >= len(histogram{}.counts) {
		t.Fatalf("the largest value's bucket %d is out of range", b)
	}
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("an empty histogram has a median")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for range 100_000 {
		// Log-normal-ish latencies from 100 µs to a few seconds.
		d := time.Duration(float64(100*time.Microsecond) * (1 + rng.ExpFloat64()*rng.ExpFloat64()*50))
		all = append(all, d)
		h.record(d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if got < want || float64(got-want) > float64(want)/histSub+float64(time.Microsecond) {
			t.Errorf("quantile(%v) = %v, sorted samples say %v", q, got, want)
		}
	}
	if h.quantile(1) != all[len(all)-1] || h.max != all[len(all)-1] {
		t.Errorf("max %v, quantile(1) %v, want %v", h.max, h.quantile(1), all[len(all)-1])
	}
}

func TestHistogramSmallCounts(t *testing.T) {
	var h histogram
	for _, ms := range []int{1, 2, 3, 4, 100} {
		h.record(time.Duration(ms) * time.Millisecond)
	}
	near := func(got, want time.Duration) bool { return got >= want && got-want <= want/histSub+time.Microsecond }
	if got := h.quantile(0.5); !near(got, 3*time.Millisecond) {
		t.Errorf("p50 = %v, want 3ms", got)
	}
	if got := h.quantile(0.8); !near(got, 4*time.Millisecond) {
		t.Errorf("p80 = %v, want 4ms", got)
	}
	if got := h.quantile(0.99); got != 100*time.Millisecond {
		t.Errorf("p99 = %v, want the 100ms maximum", got)
	}
}

func TestScheduleIsAFixedArrivalRate(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		d     time.Duration
		count int
	}{
		{500, 30 * time.Second, 15000},
		{500, 0, 0},
		{3, 1500 * time.Millisecond, 4},
		{0.5, 10 * time.Second, 5},
		{1000, time.Millisecond, 1},
	} {
		if got := requestCount(tc.rate, tc.d); got != tc.count {
			t.Errorf("requestCount(%v, %v) = %d, want %d", tc.rate, tc.d, got, tc.count)
		}
	}
	// Due times are i/rate from the start: evenly spaced, no drift after many requests,
	// and every request of a window is due inside it.
	rate := 700.0
	if got := dueOffset(rate, 0); got != 0 {
		t.Errorf("the first request is due at %v", got)
	}
	if got, want := dueOffset(rate, 7_000_000), 10_000*time.Second; got != want {
		t.Errorf("request 7,000,000 at 700/s is due at %v, want %v", got, want)
	}
	for i := 1; i < 10_000; i++ {
		gap := dueOffset(rate, i) - dueOffset(rate, i-1)
		if gap < time.Second/700-1 || gap > time.Second/700+1 {
			t.Fatalf("gap before request %d is %v", i, gap)
		}
	}
	d := 3 * time.Second
	n := requestCount(rate, d)
	if dueOffset(rate, n-1) >= d || dueOffset(rate, n) < d {
		t.Errorf("%d requests in %v: last due %v, next %v", n, d, dueOffset(rate, n-1), dueOffset(rate, n))
	}
}

func TestBenchReserveRefusesNonLoopbackAndUnboundedRuns(t *testing.T) {
	for _, args := range [][]string{
		{"reserve", "--gateway", "http://10.0.0.1:8080"},
		{"reserve", "--gateway", "http://example.com"},
		{"reserve", "--gateway", "ftp://127.0.0.1"},
		{"reserve", "--rate", "0"},
		{"reserve", "--duration", "0s"},
		{"reserve", "--duration", "2h"},
		{"reserve", "--rate", "100000", "--duration", "10m"},
		{"nope"},
		{},
	} {
		err := run(context.Background(), append([]string{"bench"}, args...), func(string) string { return "" }, io.Discard)
		if err == nil {
			t.Errorf("bench %q was accepted", args)
		}
	}
	for _, host := range []string{"127.0.0.1", "127.1.2.3", "::1", "localhost"} {
		if !isLoopback(host) {
			t.Errorf("%s is not taken for loopback", host)
		}
	}
	if isLoopback("0.0.0.0") || isLoopback("192.168.1.1") {
		t.Error("a non-loopback address is taken for loopback")
	}
}

// TestBenchReserveDrivesTheRESTCalls runs the command for a second against a fake
// gateway: it sets up a rate card and departures as an operator, holds and confirms as
// customers with tokens of the given secret, and counts failures by step and status.
func TestBenchReserveDrivesTheRESTCalls(t *testing.T) {
	const secret = "bench-test-secret-0123456789abcdef"
	signer, err := auth.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := signer.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			http.Error(w, `{"code":16}`, http.StatusUnauthorized)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["requestId"] == nil {
			http.Error(w, `{"code":3}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		calls[r.URL.Path]++
		n := calls["/v1/reservations"]
		mu.Unlock()
		switch {
		case r.URL.Path == "/v1/rateCards" && id.Role == auth.RoleOperator:
			fmt.Fprint(w, `{"rateCard":{"id":"card-1"}}`)
		case r.URL.Path == "/v1/departures" && id.Role == auth.RoleOperator:
			fmt.Fprint(w, `{"departure":{"id":"dep-1"}}`)
		case r.URL.Path == "/v1/reservations" && id.Role == auth.RoleCustomer && n%10 == 0:
			http.Error(w, `{"code":9}`, http.StatusConflict) // every tenth hold fails
		case r.URL.Path == "/v1/reservations" && id.Role == auth.RoleCustomer:
			fmt.Fprint(w, `{"reservation":{"id":"r-1"}}`)
		case r.URL.Path == "/v1/reservations/r-1:confirm" && id.Role == auth.RoleCustomer:
			fmt.Fprint(w, `{"reservation":{"id":"r-1","status":"RESERVATION_STATUS_CONFIRMED"}}`)
		default:
			http.Error(w, `{"code":7}`, http.StatusForbidden)
		}
	}))
	defer srv.Close()

	var out strings.Builder
	err = run(context.Background(), []string{"bench", "reserve", "--gateway", srv.URL, "--rate", "100", "--duration", "1s",
		"--warmup", "200ms", "--departures", "2", "--auth-secret", secret}, func(string) string { return "" }, &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["/v1/rateCards"] != 1 || calls["/v1/departures"] != 2 || calls["/v1/reservations"] != 120 || calls["/v1/reservations/r-1:confirm"] != 108 {
		t.Errorf("calls = %v, want 1 rate card, 2 departures, 120 holds, 108 confirmations", calls)
	}
	m := regexp.MustCompile(`scheduled 100, succeeded (\d+), failed (\d+) \(warm-up failures (\d+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no counts in the output:\n%s", out.String())
	}
	ok, failed, warm := atoi(m[1]), atoi(m[2]), atoi(m[3])
	if ok+failed != 100 || failed+warm != 12 {
		t.Errorf("succeeded %d, failed %d, warm-up failures %d: want 100 measured and 12 failures in all", ok, failed, warm)
	}
	for _, want := range []string{"hold 409", "p50 ", "p99 ", "W1 (>= 30,000/min, p95 <= 50 ms, p99 <= 150 ms, no errors): NOT met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
