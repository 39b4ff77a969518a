package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/serve"
)

// loadFlags are the settings every `waybill bench` workload shares: the gateway it loads,
// the arrival rate and the run's length, the client's limits, and whose CPU to count.
type loadFlags struct {
	gateway     string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	secret      string
	timeout     time.Duration
	maxInFlight int
	cpuPID      int
	cpuDBURL    string
}

// register defines the shared flags on fs for a workload whose requests are units
// ("reservations", "rides") arriving at rate per second by default.
func (l *loadFlags) register(fs *flag.FlagSet, unit string, rate float64, rateHelp, timeoutHelp string) {
	fs.StringVar(&l.gateway, "gateway", "http://127.0.0.1:8080", "the REST gateway's base URL; only loopback addresses are accepted")
	fs.Float64Var(&l.rate, "rate", rate, rateHelp)
	fs.DurationVar(&l.duration, "duration", 30*time.Second, "how long to measure")
	fs.DurationVar(&l.warmup, "warmup", 5*time.Second, "how long to run at the rate before measuring")
	fs.StringVar(&l.secret, "auth-secret", serve.DevAuthSecret, "the secret the mesh signs tokens with")
	fs.DurationVar(&l.timeout, "timeout", 10*time.Second, timeoutHelp)
	fs.IntVar(&l.maxInFlight, "max-in-flight", 2048, unit+" in flight at most; one due beyond that is counted as an error, not sent")
	fs.IntVar(&l.cpuPID, "cpu-pid", 0, "also report the CPU time per "+strings.TrimSuffix(unit, "s")+" of this process and all its descendants (the pid of `waybill up`), read from /proc over the measured window, by process")
	fs.StringVar(&l.cpuDBURL, "cpu-database-url", "", "with --cpu-pid: the mesh's (loopback) PostgreSQL, to split its backends' CPU by application name")
}

// validate checks the shared flags; unit names the requests in messages.
func (l *loadFlags) validate(unit string) error {
	switch {
	case l.rate <= 0 || math.IsInf(l.rate, 0) || math.IsNaN(l.rate):
		return errors.New("--rate must be positive")
	case l.duration <= 0 || l.warmup < 0 || l.duration+l.warmup > benchMaxDuration:
		return fmt.Errorf("--duration must be positive and --warmup + --duration at most %s", benchMaxDuration)
	case requestCount(l.rate, l.warmup+l.duration) > benchMaxRequests:
		return fmt.Errorf("--rate × (--warmup + --duration) is more than %d %s", benchMaxRequests, unit)
	case l.maxInFlight < 1 || l.timeout <= 0:
		return errors.New("--max-in-flight and --timeout must be positive")
	case l.cpuPID < 0:
		return errors.New("--cpu-pid must be a process id")
	}
	if l.cpuDBURL != "" {
		u, err := url.Parse(l.cpuDBURL)
		if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" || !isLoopback(u.Hostname()) || l.cpuPID <= 0 {
			return errors.New("--cpu-database-url must be a postgres:// URL on a loopback address, with --cpu-pid")
		}
	}
	u, err := url.Parse(l.gateway)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--gateway %q is not an http(s) URL", l.gateway)
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("--gateway %q: only loopback addresses (127.0.0.0/8, ::1, localhost) may be loaded", l.gateway)
	}
	return nil
}

// openLoop runs request i of total at start + i/rate whatever became of the earlier ones
// (an open loop: a slow server shows up as latency, not as a slower client), each in a
// goroutine of its own; requests from warm on are measured. A request due while
// maxInFlight are running is not sent: overflow is called for it instead. openLoop
// returns when every request it started has finished; ctx.Err() if ctx ended first.
func openLoop(ctx context.Context, start time.Time, rate float64, total, warm, maxInFlight int,
	overflow func(measured bool), do func(i int, due time.Time, measured bool)) error {
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	<-timer.C
	for i := 0; i < total; i++ {
		due := start.Add(dueOffset(rate, i))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		measured := i >= warm
		select {
		case sem <- struct{}{}:
		default:
			overflow(measured)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			do(i, due, measured)
		})
	}
	return nil
}

// cpuWindow samples the CPU of a process tree (the pid of `waybill up`: the services and
// their PostgreSQL) from /proc at the start of the measured window and at its end.
type cpuWindow struct {
	pid     int
	dbURL   string // the mesh's PostgreSQL, whose backends are grouped by application name
	started chan struct{}
	before  cpuSample
	self    time.Duration
	names   map[int]string
	err     error
}

// startCPU takes the first sample at measureStart, in the background; nil without pid.
func startCPU(ctx context.Context, pid int, dbURL string, measureStart time.Time) *cpuWindow {
	if pid <= 0 {
		return nil
	}
	w := &cpuWindow{pid: pid, dbURL: dbURL, started: make(chan struct{})}
	go func() {
		defer close(w.started)
		time.Sleep(time.Until(measureStart))
		w.names = w.backends(ctx, nil)
		w.before, w.err = sampleCPU(w.pid, w.names)
		w.self = selfCPU()
	}()
	return w
}

func (w *cpuWindow) backends(ctx context.Context, into map[int]string) map[int]string {
	if into == nil {
		into = map[int]string{}
	}
	if w.dbURL == "" {
		return into
	}
	names, err := backendNames(ctx, w.dbURL)
	if err != nil {
		w.err = err
	}
	for pid, n := range names {
		into[pid] = n
	}
	return into
}

// finish takes the second sample and reports the CPU per one of n measured requests,
// each a unit ("reservation", "ride").
func (w *cpuWindow) finish(ctx context.Context, out io.Writer, n int, unit string) {
	<-w.started
	names := w.backends(ctx, w.names)
	after, err := sampleCPU(w.pid, names)
	if err == nil {
		err = w.err
	}
	if err != nil {
		fmt.Fprintf(out, "CPU per %s: not measured: %v\n", unit, err)
		return
	}
	// Regroup the first sample with the names known at the end.
	for pid, p := range w.before {
		if a, ok := after[pid]; ok {
			p.group = a.group
			w.before[pid] = p
		}
	}
	reportCPU(out, cpuDelta(w.before, after), n, unit, float64(selfCPU()-w.self)/float64(time.Millisecond))
}
