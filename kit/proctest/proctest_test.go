package proctest_test

import (
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/proctest"
)

// TestStartCollectsOutputAndKillWaits: Start collects what the process writes, and Kill
// returns only once the process is gone (reaped: no such pid any more).
func TestStartCollectsOutputAndKillWaits(t *testing.T) {
	t.Parallel()
	p := proctest.Start(t, exec.Command("sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 60"))
	grpctest.Eventually(t, 10*time.Second, "both lines collected", func() bool {
		out := p.Output()
		return strings.Contains(out, "to-stdout\n") && strings.Contains(out, "to-stderr\n")
	})
	p.Kill(t)
	if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("after Kill, signal 0 to pid %d: %v, want ESRCH", p.Pid(), err)
	}
}

// TestStartKillsAtCleanup: a process still running when its test ends is killed.
func TestStartKillsAtCleanup(t *testing.T) {
	t.Parallel()
	var pid int
	t.Run("starts", func(t *testing.T) {
		pid = proctest.Start(t, exec.Command("sleep", "60")).Pid()
	})
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("after the subtest ended, signal 0 to pid %d: %v, want ESRCH", pid, err)
	}
}

// TestFreeAddr returns a loopback address with a port. (Whether the port is still free
// when a process binds it is not something a test can check: another test on the machine
// may take it first, which is why Serve's callers wait for SERVING.)
func TestFreeAddr(t *testing.T) {
	t.Parallel()
	addr := proctest.FreeAddr(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || port == "0" || port == "" {
		t.Fatalf("FreeAddr = %q, want 127.0.0.1 and a port", addr)
	}
}
