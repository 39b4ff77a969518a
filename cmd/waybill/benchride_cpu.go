package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// rideCPU samples the CPU of --cpu-pid's process tree (the pid of `waybill up`: the
// services and their PostgreSQL) from /proc at the start of the measured window and
// after the last measured ride finished (billed or given up), as bench reserve does.
type rideCPU struct {
	pid     int
	dbURL   string
	started chan struct{}
	before  cpuSample
	self    uint64
	names   map[int]string
	err     error
}

// validateCPU checks --cpu-pid and --cpu-database-url.
func (c *rideBench) validateCPU() error {
	if c.cpuPID < 0 {
		return errors.New("--cpu-pid must be a process id")
	}
	if c.cpuDBURL == "" {
		return nil
	}
	u, err := url.Parse(c.cpuDBURL)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" || !isLoopback(u.Hostname()) || c.cpuPID <= 0 {
		return errors.New("--cpu-database-url must be a postgres:// URL on a loopback address, with --cpu-pid")
	}
	return nil
}

// startCPU takes the first sample at measureStart, in the background; nil without --cpu-pid.
func (c *rideBench) startCPU(ctx context.Context, measureStart time.Time) *rideCPU {
	if c.cpuPID <= 0 {
		return nil
	}
	w := &rideCPU{pid: c.cpuPID, dbURL: c.cpuDBURL, started: make(chan struct{})}
	go func() {
		defer close(w.started)
		time.Sleep(time.Until(measureStart))
		w.names = w.backends(ctx, nil)
		w.before, w.err = sampleCPU(w.pid, w.names)
		_, _, w.self, _ = procStat(os.Getpid())
	}()
	return w
}

func (w *rideCPU) backends(ctx context.Context, into map[int]string) map[int]string {
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

// finish takes the second sample and prints the CPU per measured ride by process group.
func (w *rideCPU) finish(ctx context.Context, out io.Writer, rides int) {
	<-w.started
	names := w.backends(ctx, w.names)
	after, err := sampleCPU(w.pid, names)
	if err == nil {
		err = w.err
	}
	if err != nil {
		fmt.Fprintf(out, "CPU per ride: not measured: %v\n", err)
		return
	}
	for pid, p := range w.before { // regroup with the names known at the end
		if a, ok := after[pid]; ok {
			p.group = a.group
			w.before[pid] = p
		}
	}
	_, _, self, _ := procStat(os.Getpid())
	if rides <= 0 {
		return
	}
	delta := cpuDelta(w.before, after)
	groups := make([]string, 0, len(delta))
	var total float64
	for g, ms := range delta {
		groups = append(groups, g)
		total += ms
	}
	slices.SortFunc(groups, func(a, b string) int {
		switch {
		case delta[a] > delta[b]:
			return -1
		case delta[a] < delta[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	n := float64(rides)
	fmt.Fprintf(out, "CPU per ride (ms, from /proc, the mesh's processes and its PostgreSQL's, measured window to the last ride's end): total %.2f\n", total/n)
	for _, g := range groups {
		if delta[g] >= 0.005*n {
			fmt.Fprintf(out, "  %-22s %.2f\n", g, delta[g]/n)
		}
	}
	fmt.Fprintf(out, "  (the load generator itself, not in the total: %.2f)\n", float64(self-w.self)*1000/clockTicks/n)
}
