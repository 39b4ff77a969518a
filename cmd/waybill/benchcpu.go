package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux this runs on (getconf CLK_TCK).
const clockTicks = 100

// cpuSample is the CPU time (user + system, in clock ticks) of every process under one
// root process at one moment, by pid, with the group each process is counted in.
type cpuSample map[int]procCPU

type procCPU struct {
	group string
	ticks uint64
}

// procStat reads a process's parent, command name and CPU ticks from /proc/<pid>/stat.
func procStat(pid int) (ppid int, comm string, ticks uint64, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", 0, err
	}
	s := string(raw)
	// comm is in parentheses and may hold spaces; the fields after it are fixed.
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return 0, "", 0, fmt.Errorf("/proc/%d/stat: unreadable", pid)
	}
	comm = s[open+1 : close]
	f := strings.Fields(s[close+1:])
	// f[0] is the state (field 3): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, "", 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return ppid, comm, ut + st, nil
}

// sampleCPU reads the CPU time of root and all its descendants. A `waybill serve X`
// process counts as X; a PostgreSQL process counts as "pg:" and the application name
// of its backend in backends (pid → name), or "pg:other" (postmaster, checkpointer,
// WAL writer…); anything else by its command name.
func sampleCPU(root int, backends map[int]string) (cpuSample, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	type info struct {
		ppid  int
		comm  string
		ticks uint64
	}
	all := map[int]info{}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, comm, ticks, err := procStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		all[pid] = info{ppid, comm, ticks}
		children[ppid] = append(children[ppid], pid)
	}
	if _, ok := all[root]; !ok {
		return nil, fmt.Errorf("no process %d", root)
	}
	out := cpuSample{}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		queue = append(queue, children[pid]...)
		in := all[pid]
		out[pid] = procCPU{group: groupOf(pid, in.comm, backends), ticks: in.ticks}
	}
	return out, nil
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
		if a.ticks >= b.ticks {
			out[a.group] += float64(a.ticks-b.ticks) * 1000 / clockTicks
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
