package web_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgainstAMesh starts a real `waybill up --demo` (its own throwaway PostgreSQL,
// every service, the gateway serving the embedded pages, and the demo day) and runs, against it, the
// TypeScript SDK's tests (sdk/typescript/test, node's test runner) and the browser tests
// of the pages (web/test: playwright-core driving Debian's Chromium). Screenshots of
// failed browser tests are saved under web/test-results/.
func TestAgainstAMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, seven processes and a browser")
	}
	for _, tool := range []string{"node", "npm", "chromium"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/ensure-deps.sh (as root it installs Chromium from Debian)", tool)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(root, "scripts/web-tools.sh")).CombinedOutput(); err != nil {
		t.Fatalf("scripts/web-tools.sh: %v\n%s", err, out)
	}
	for _, dir := range []string{"sdk/typescript", "web"} {
		// The sources type-check against the SDK generated from the current OpenAPI document.
		cmd := exec.Command(filepath.Join(root, dir, "node_modules/.bin/tsc"), "-p", ".", "--noEmit")
		cmd.Dir = filepath.Join(root, dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tsc in %s: %v\n%s", dir, err, out)
		}
	}
	m := startMesh(t, root)
	env := append(os.Environ(),
		"WAYBILL_GATEWAY=http://"+m.addr(8080),
		"WAYBILL_BIN="+m.bin,
		"WAYBILL_MESH_LOG="+m.log,
		"WAYBILL_UP_PID="+strconv.Itoa(m.cmd.Process.Pid),
		"WAYBILL_ARTIFACTS="+filepath.Join(root, "web/test-results"),
	)
	t.Run("sdk", func(t *testing.T) {
		runNode(t, root, env, "sdk/typescript/test/sdk.test.mjs")
	})
	t.Run("browser", func(t *testing.T) {
		runNode(t, root, env, "web/test/pages.test.mjs")
	})
}

// runNode runs node's test runner on files, logging its report.
func runNode(t *testing.T, root string, env []string, files ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-reporter=spec", "--test-timeout=300000"}, files...)...)
	cmd.Dir = root
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", strings.Join(files, " "), out)
	if err != nil {
		t.Fatalf("node --test %s: %v", strings.Join(files, " "), err)
	}
}

// mesh is a `waybill up` the test started.
type mesh struct {
	bin    string
	cmd    *exec.Cmd
	log    string // its output
	offset int
}

func (m *mesh) addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port+m.offset) }

// startMesh builds the binary and runs `waybill up` on shifted ports until it says it is
// up; the mesh is stopped when the test ends.
func startMesh(t *testing.T, root string) *mesh {
	t.Helper()
	dir := t.TempDir()
	// Offsets from 20000 (cmd/waybill's meshes use 10000 to 19990), below the ephemeral
	// port range even for the highest port (9009 + 22990), and on ports nobody listens on:
	// `waybill up` would take another mesh's healthy gateway for its own.
	m := &mesh{bin: filepath.Join(dir, "waybill"), log: filepath.Join(dir, "mesh.log")}
	for try := 0; ; try++ {
		m.offset = 20000 + rand.IntN(300)*10
		if portsFree(m) {
			break
		}
		if try == 20 {
			t.Fatal("found no free set of ports for the mesh")
		}
	}
	build := exec.Command("go", "build", "-o", m.bin, "./cmd/waybill")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	logf, err := os.Create(m.log)
	if err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(m.bin, "up", "--demo", "--port-offset", strconv.Itoa(m.offset))
	m.cmd.Env = append(os.Environ(), "DATABASE_URL=", "WAYBILL_DATABASE_URL=")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = m.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// The browser test pauses the supervisor (SIGSTOP) to keep a killed provider down:
		// make sure it runs again, then stop the mesh the way Ctrl-C does.
		_ = m.cmd.Process.Signal(syscall.SIGCONT)
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = m.cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(m.log); err == nil {
				t.Logf("output of waybill up:\n%s", b)
			}
		}
	})
	deadline := time.Now().Add(120 * time.Second)
	for {
		if b, _ := os.ReadFile(m.log); strings.Contains(string(b), "Waybill is up") {
			return m
		}
		select {
		case <-exited:
			t.Fatal("waybill up exited before the mesh was up")
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the mesh did not come up within 120 s")
		}
	}
}

// portsFree says whether every port of m's mesh is free now.
func portsFree(m *mesh) bool {
	ports := []int{8080}
	for p := 7001; p <= 7020; p++ {
		ports = append(ports, p, p+2000)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", m.addr(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
