package eventstream_test

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// treeCPU is the CPU time (user + system) used so far by this test process and all its
// descendants: the throwaway PostgreSQL that pgtest starts in the process and its
// backends included. Differences of it give a benchmark's CPU per operation, a figure
// that, unlike throughput, other work on a shared machine barely moves. Processes that
// exited are not counted; 0 where /proc is unreadable. self is this process's share
// (writers, sequencer, reader, subscribers: the Go side).
func treeCPU() (self, total time.Duration) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	const clockTicks = 100 // USER_HZ (getconf CLK_TCK) on Linux
	children := map[int][]int{}
	ticks := map[int]uint64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		children[ppid] = append(children[ppid], pid)
		ticks[pid] = ut + st
	}
	var sum uint64
	for queue := []int{os.Getpid()}; len(queue) > 0; queue = queue[1:] {
		sum += ticks[queue[0]]
		queue = append(queue, children[queue[0]]...)
	}
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return tick(ticks[os.Getpid()]), tick(sum)
}
