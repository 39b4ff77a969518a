package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSampleCPUCountsTheProcessTree: the CPU of a child that burns CPU shows up in the
// difference of two samples of its parent's tree, under the child's command name, and
// the report divides by the reservations and names the group.
func TestSampleCPUCountsTheProcessTree(t *testing.T) {
	child := exec.Command("sh", "-c", "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done")
	before, err := sampleCPU(os.Getpid(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := before[os.Getpid()]; !ok {
		t.Fatalf("the sample lacks the root process %d", os.Getpid())
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var after cpuSample
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Sample while the child still runs: an exited child is no longer in /proc.
		after, err = sampleCPU(os.Getpid(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := after[child.Process.Pid]; ok && p.cpu >= 50*time.Millisecond || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	delta := cpuDelta(before, after)
	if delta["sh"] < 50 {
		t.Fatalf("the child's CPU was not counted: %v", delta)
	}
	var out strings.Builder
	reportCPU(&out, map[string]float64{"booking": 300, "pg:booking": 100}, 100, "reservation", 10)
	for _, want := range []string{"total 4.000", "booking                3.000", "pg:booking             1.000", "not in the total: 0.100"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestGroupOfPostgresBackends(t *testing.T) {
	if got := groupOf(1, "postgres", map[int]string{1: "waybill-booking"}); got != "pg:booking" {
		t.Errorf("backend of waybill-booking: %q", got)
	}
	if got := groupOf(2, "postgres", map[int]string{}); got != "pg:other" {
		t.Errorf("postmaster: %q", got)
	}
}
