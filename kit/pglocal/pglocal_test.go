package pglocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartStopTemporary(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Start(ctx, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	for setting, want := range map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"listen_addresses":   "127.0.0.1",
		"max_connections":    "300",
		"shared_buffers":     "128MB",
		"server_encoding":    "UTF8",
		"is_superuser":       "on",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	var user, collation string
	err = conn.QueryRow(ctx, "SELECT current_user, datcollate FROM pg_database WHERE datname = current_database()").
		Scan(&user, &collation)
	if err != nil {
		t.Fatal(err)
	}
	if user != "postgres" || collation != "C" {
		t.Errorf("current_user, collation = %q, %q, want postgres, C", user, collation)
	}
	conn.Close(ctx)

	socket := filepath.Join(s.Dir(), ".s.PGSQL."+strconv.Itoa(s.Port()))
	if _, err := os.Stat(socket); err != nil {
		t.Errorf("unix socket not in the data folder: %v", err)
	}
	root := filepath.Dir(s.Dir())
	if !strings.HasPrefix(filepath.Base(root), tempPrefix) {
		t.Fatalf("temporary data folder %s is not under a %s* folder", s.Dir(), tempPrefix)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary folder %s still there after Stop (stat: %v)", root, err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port()), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still accepts connections after Stop", s.Port())
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestGivenDirIsDurableAndReused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// A root test process runs postgres as another user, which must be able to reach
	// the folder: t.TempDir's folders are private.
	parent, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "cluster")

	s, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	var fsync string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "on" {
		t.Errorf("fsync = %q (%v), want on by default", fsync, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("a given data folder must survive Stop: %v", err)
	}

	s, err = Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	conn, err = pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Errorf("after restart: v = %d (%v), want 42", v, err)
	}
}

func TestFixedPortInUseFails(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := Start(t.Context(), Options{Port: port, Fast: true})
	if err == nil {
		s.Stop()
		t.Fatalf("Start on a taken port %d succeeded", port)
	}
	if !strings.Contains(err.Error(), "could not bind") {
		t.Errorf("error does not quote postgres's reason: %v", err)
	}
}

// TestPostgresDiesWithParent kills a process that started a server without stopping it:
// postgres must shut down by itself, and the next Start must remove the left-over folder.
func TestPostgresDiesWithParent(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartAndHang$", "-test.v")
	cmd.Env = append(os.Environ(), "PGLOCAL_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pgPid int
	var dataDir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "READY %d %s", &pgPid, &dataDir); err == nil {
			break
		}
	}
	if pgPid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper did not start a server")
	}
	if !alive(pgPid) {
		t.Fatalf("postgres %d not running while its parent lives", pgPid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for alive(pgPid) {
		if time.Now().After(deadline) {
			syscall.Kill(pgPid, syscall.SIGQUIT)
			t.Fatalf("postgres %d still running 30s after its parent was killed", pgPid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The killed parent's folder is left behind until a Start reaps it; a Start in a
	// parallel test may already have.
	root := filepath.Dir(dataDir)
	reapStale(filepath.Dir(root))
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale folder %s not removed (stat: %v)", root, err)
	}
}

// TestHelperStartAndHang is the child process of TestPostgresDiesWithParent.
func TestHelperStartAndHang(t *testing.T) {
	if os.Getenv("PGLOCAL_HELPER") != "1" {
		t.Skip("helper process only")
	}
	s, err := Start(context.Background(), Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %d %s\n", s.proc.Pid, s.Dir())
	select {}
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !isServerBinDir(dir) {
		t.Errorf("FindBinDir() = %s, which lacks initdb or postgres", dir)
	}
}

func TestHighestDebianBinDir(t *testing.T) {
	root := t.TempDir()
	program := func(version, name, content string) {
		bin := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const elf = "\x7fELF..."
	for _, v := range []string{"9.6", "13", "15"} {
		program(v, "initdb", elf)
		program(v, "postgres", elf)
	}
	program("17", "initdb", elf) // no postgres: not a server folder
	program("16", "initdb", "#!/usr/bin/perl\n")
	program("16", "postgres", elf) // a wrapper script is not initdb
	if err := os.MkdirAll(filepath.Join(root, "notaversion", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}

	if got, want := highestDebianBinDir(root), filepath.Join(root, "15", "bin"); got != want {
		t.Errorf("highestDebianBinDir = %s, want %s", got, want)
	}
	if got := highestDebianBinDir(filepath.Join(root, "missing")); got != "" {
		t.Errorf("highestDebianBinDir(missing) = %q, want empty", got)
	}
}
