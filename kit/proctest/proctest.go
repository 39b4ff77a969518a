// Package proctest is the one harness for tests that run Waybill as real OS processes
// and kill them: it builds the waybill binary, starts `waybill serve <service>` (or any
// command) with its output collected, waits until the service reports SERVING, kills it
// with SIGKILL, and prints a process's output when the test failed. The service's own
// tests keep only what they assert:
//
//	func TestKilledMidOffer(t *testing.T) {
//		bin := proctest.Build(t) // skips under -short
//		url := pgtest.NewURL(t, pgtest.Schemas{"matching": matchingpg.Migrations})
//		addr := proctest.FreeAddr(t)
//		p := proctest.Serve(t, bin, "matching", addr, url, "--min-offer-timeout", "500ms")
//		// … calls through grpctest.Dial(t, addr, id) …
//		p.Kill(t)
//		proctest.Serve(t, bin, "matching", addr, url) // the restart, on the same address
//	}
//
// Every process is killed when its test ends, if it still runs. Processes serve with
// grpctest.Secret, so grpctest.Dial and servers started by grpctest call them as they
// call each other.
package proctest

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds the waybill binary (github.com/waybill/waybill/cmd/waybill) into the
// test's temporary folder and returns its path; the test is skipped under -short. Each
// call builds again: from Go's build cache that is a link of a few seconds, paid once per
// test that calls it.
func Build(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the waybill binary")
	}
	bin := filepath.Join(t.TempDir(), "waybill")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/waybill/waybill/cmd/waybill").CombinedOutput(); err != nil {
		t.Fatalf("proctest: build waybill: %v\n%s", err, out)
	}
	return bin
}

// FreeAddr returns a loopback address ("127.0.0.1:port") nothing listens on at the time
// of the call, for a process to serve on. Another process may take the port before
// the one the test starts does; the kernel hands out ports in turn, so in practice it
// does not.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proctest: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
