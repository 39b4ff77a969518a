// Package proccpu reads the CPU time of processes from Linux's /proc, for benchmarks and
// load generators that report CPU per operation: a figure that, unlike throughput, other
// work on a shared machine barely moves.
package proccpu

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux this runs on (getconf CLK_TCK).
const clockTicks = 100

// Stat is what /proc/<pid>/stat says of a process.
type Stat struct {
	// PPID is the parent's process id.
	PPID int
	// Comm is the command name (at most 15 bytes).
	Comm string
	// CPU is the user and system time the process has used.
	CPU time.Duration
}

// Read reads /proc/<pid>/stat.
func Read(pid int) (Stat, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	s := string(raw)
	// comm is in parentheses and may hold spaces; the fields after it are fixed.
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("/proc/%d/stat: unreadable", pid)
	}
	f := strings.Fields(s[end+1:])
	// f[0] is the state (field 3): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return Stat{PPID: ppid, Comm: s[open+1 : end], CPU: time.Duration(ut+st) * time.Second / clockTicks}, nil
}

// All reads every process's Stat, by pid. Processes that exit while it reads are left
// out.
func All() (map[int]Stat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	all := make(map[int]Stat, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := Read(pid); err == nil {
			all[pid] = st
		}
	}
	return all, nil
}

// Tree returns root and its descendants, root first, each before its children, with
// their Stat as All read it. Processes that exited are not counted.
func Tree(root int) ([]int, map[int]Stat, error) {
	all, err := All()
	if err != nil {
		return nil, nil, err
	}
	if _, ok := all[root]; !ok {
		return nil, nil, fmt.Errorf("no process %d", root)
	}
	children := map[int][]int{}
	for pid, st := range all {
		children[st.PPID] = append(children[st.PPID], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree, all, nil
}

// TreeCPU returns the CPU time root has used (self) and that of root and all its
// descendants together (total).
func TreeCPU(root int) (self, total time.Duration, err error) {
	tree, all, err := Tree(root)
	if err != nil {
		return 0, 0, err
	}
	for _, pid := range tree {
		total += all[pid].CPU
	}
	return all[root].CPU, total, nil
}
