package proctest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
)

// ServeTimeout bounds the wait for a started service to report SERVING: it migrates its
// database and rebuilds its state first, on a machine that may be busy.
const ServeTimeout = 60 * time.Second

// Process is a running OS process a test started with Start or Serve.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *buffer
	done chan struct{} // closed when the process has exited and its output is collected
}

// Start starts cmd with its standard output and error collected (Start sets cmd.Stdout
// and cmd.Stderr) and returns the process. When the test ends the process is killed, if
// it still runs, and its output is logged if the test failed.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	return start(t, filepath.Base(cmd.Path), cmd)
}

// Serve starts `bin serve service` on the gRPC address addr (no HTTP) with the database
// at databaseURL, grpctest.Secret as its token secret, text logs and the extra args, in
// an environment without DATABASE_URL or WAYBILL_DATABASE_URL, and waits until its gRPC
// health check reports SERVING. It fails the test if the process exits first or is not
// SERVING within ServeTimeout. Cleanup is as for Start.
func Serve(t testing.TB, bin, service, addr, databaseURL string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", service, "--grpc-addr", addr, "--http-addr", "",
		"--database-url", databaseURL, "--auth-secret", grpctest.Secret, "--log-format", "text"}, args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "WAYBILL_DATABASE_URL=")
	p := start(t, "waybill serve "+service, cmd)
	health := healthpb.NewHealthClient(grpctest.Dial(t, addr, auth.Identity{}))
	grpctest.Eventually(t, ServeTimeout, service+" SERVING", func() bool {
		select {
		case <-p.done:
			t.Fatalf("proctest: %s (pid %d) exited before SERVING: %v", p.name, p.cmd.Process.Pid, p.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	return p
}

func start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{name: name, cmd: cmd, out: &buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", name, cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// Kill ends the process with SIGKILL (no shutdown of any kind) and waits until it has
// exited. It fails the test if the process had already exited.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("proctest: kill %s (pid %d): %v", p.name, p.cmd.Process.Pid, err)
	}
	<-p.done
}

// Pid returns the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process has written to its standard output and error so far.
func (p *Process) Output() string { return p.out.String() }

// buffer collects a process's output; it is safe for concurrent use.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
