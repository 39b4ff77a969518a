package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/proccpu"
)

// cpuSample is the CPU time of every process under one root process at one moment, by
// pid, with the group each process is counted in.
type cpuSample map[int]procCPU

type procCPU struct {
	group string
	cpu   time.Duration
}

// sampleCPU reads the CPU time of root and all its descendants. A `waybill serve X`
// process counts as X; a PostgreSQL process counts as "pg:" and the application name
// of its backend in backends (pid → name), or "pg:other" (postmaster, checkpointer,
// WAL writer…); anything else by its command name.
func sampleCPU(root int, backends map[int]string) (cpuSample, error) {
	tree, all, err := proccpu.Tree(root)
	if err != nil {
		return nil, err
	}
	out := make(cpuSample, len(tree))
	for _, pid := range tree {
		out[pid] = procCPU{group: groupOf(pid, all[pid].Comm, backends), cpu: all[pid].CPU}
	}
	return out, nil
}

// selfCPU is the CPU time this process (the load generator) has used; 0 if unreadable.
func selfCPU() time.Duration {
	st, _ := proccpu.Read(os.Getpid())
	return st.CPU
}

func groupOf(pid int, comm string, backends map[int]string) string {
	if comm == "postgres" {
		if name, ok := backends[pid]; ok && name != "" {
			return "pg:" + strings.TrimPrefix(name, "waybill-")
		}
		return "pg:other"
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err == nil {
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if i := slices.Index(args, "serve"); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		if slices.Contains(args, "up") {
			return "up"
		}
	}
	return comm
}

// backendNames maps PostgreSQL backend pids to their application names.
func backendNames(ctx context.Context, dbURL string) (map[int]string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid, coalesce(application_name, '') FROM pg_stat_activity`)
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	var pid int
	var name string
	_, err = pgx.ForEachRow(rows, []any{&pid, &name}, func() error {
		out[pid] = name
		return nil
	})
	return out, err
}

// cpuDelta is the CPU milliseconds each group used between two samples. A process that
// started in between counts from zero; one that exited in between is lost (pools keep
// their connections, so over a run this is rare).
func cpuDelta(before, after cpuSample) map[string]float64 {
	out := map[string]float64{}
	for pid, a := range after {
		b := before[pid] // zero when the process is new
		if a.cpu >= b.cpu {
			out[a.group] += float64(a.cpu-b.cpu) / float64(time.Millisecond)
		}
	}
	return out
}

// reportCPU prints the CPU per one of n requests, each a unit ("reservation", "ride"), of
// each group, largest first, and the total; self is the load generator's own.
func reportCPU(w io.Writer, delta map[string]float64, n int, unit string, self float64) {
	if n <= 0 {
		return
	}
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
	per := float64(n)
	fmt.Fprintf(w, "CPU per %s (ms, from /proc, the mesh's processes and its PostgreSQL's): total %.3f\n", unit, total/per)
	for _, g := range groups {
		if delta[g] == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-22s %.3f\n", g, delta[g]/per)
	}
	fmt.Fprintf(w, "  (the load generator itself, not in the total: %.3f)\n", self/per)
}
