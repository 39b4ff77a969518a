package proccpu_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/proccpu"
)

// TestReadAndTree: this process's Stat names its parent and grows while it works, and a
// child it started is in its tree with its own CPU.
func TestReadAndTree(t *testing.T) {
	before, err := proccpu.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.PPID != os.Getppid() || before.Comm == "" {
		t.Fatalf("stat of this process = %+v, want parent %d", before, os.Getppid())
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := proccpu.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPU <= before.CPU {
		t.Fatalf("CPU %v after 50 ms of work, %v before", after.CPU, before.CPU)
	}
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to start: %v", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	tree, all, err := proccpu.Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tree[0] != os.Getpid() || !slices.Contains(tree, child.Process.Pid) || all[child.Process.Pid].PPID != os.Getpid() {
		t.Fatalf("tree %v lacks child %d", tree, child.Process.Pid)
	}
	self, total, err := proccpu.TreeCPU(os.Getpid())
	if err != nil || self < after.CPU || total < self {
		t.Fatalf("TreeCPU = %v, %v, %v; this process alone had %v", self, total, err, after.CPU)
	}
	if _, err := proccpu.Read(-1); err == nil {
		t.Fatal("Read(-1) succeeded")
	}
}
