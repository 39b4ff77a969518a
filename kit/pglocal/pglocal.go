// Package pglocal runs a throwaway PostgreSQL cluster from the machine's own server
// binaries, for `waybill up` and for tests that have no database URL.
//
// Start runs initdb (trust authentication, UTF8, collation C, superuser "postgres") in a
// data folder, then runs postgres listening on 127.0.0.1 only, with its Unix socket inside
// the data folder so that it never collides with a system cluster. initdb refuses to run as
// root, so a root process runs initdb and postgres as the OS user "postgres". postgres is
// started with a parent-death signal (Linux) and in its own process group: it shuts down
// when the process that started it dies, even by SIGKILL, and a Ctrl-C in the terminal
// reaches only the parent, which decides when to call Stop.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// readyTimeout bounds the wait for a started postgres to accept connections when the
	// caller's context has no earlier deadline.
	readyTimeout = 60 * time.Second
	// shutdownTimeout bounds a fast shutdown before Stop escalates to an immediate one.
	shutdownTimeout = 30 * time.Second
	// bindAttempts is how often Start picks a new free port when another process took the
	// one it picked before postgres could bind it.
	bindAttempts = 3
)

// Options configures Start. The zero value starts a durable cluster in a new temporary
// folder on a free loopback port.
type Options struct {
	// Dir is the data folder. Empty means a new temporary folder that Stop removes. A
	// folder that already holds a cluster is reused as it is (initdb is skipped), so
	// data survives from one Start to the next; otherwise it must be empty or absent.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Fast turns off fsync, synchronous_commit and full_page_writes: much faster commits,
	// and a crash of the machine may lose or corrupt the data. Meant for tests.
	Fast bool
	// Logger receives lifecycle events at Info and postgres's own output at Debug; nil
	// discards them.
	Logger *slog.Logger
}

// Server is a running PostgreSQL cluster started by Start. Its methods are safe for
// concurrent use.
type Server struct {
	port     int
	dataDir  string
	tempRoot string // the temporary folder Stop removes; "" when Options.Dir was given
	logger   *slog.Logger
	output   *outputLog

	proc    *os.Process
	exited  chan struct{} // closed when postgres has exited; waitErr is then set
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Start creates the cluster when needed, starts postgres and returns once it accepts
// connections. The context bounds only the start: the server runs until Stop is called
// or the calling process exits. On error nothing is left running and a temporary folder
// is removed.
func Start(ctx context.Context, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	s := &Server{logger: logger, output: newOutputLog(logger)}
	if err := s.prepareDir(opts.Dir, acct); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.removeTemp()
		}
	}()

	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); err == nil {
		logger.Info("reusing PostgreSQL data folder", slog.String("dir", s.dataDir))
	} else if err := initdb(ctx, binDir, s.dataDir, acct, logger); err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		err := s.launch(ctx, binDir, port, opts.Fast, acct)
		if err == nil {
			ok = true
			logger.Info("PostgreSQL started", slog.Int("port", port), slog.Int("pid", s.proc.Pid),
				slog.String("dir", s.dataDir), slog.Bool("fast", opts.Fast))
			return s, nil
		}
		if opts.Port != 0 || attempt == bindAttempts || !s.output.contains("could not bind") {
			return nil, err
		}
		logger.Info("PostgreSQL port taken meanwhile, trying another", slog.Int("port", port))
	}
}

// URL returns the connection URL of the superuser "postgres" on the "postgres" database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port returns the TCP port postgres listens on, on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir returns the data folder of the cluster.
func (s *Server) Dir() string { return s.dataDir }

// Exited returns a channel closed when postgres exits, whether Stop ended it or it died
// (killed, crashed, or shut down by someone else); ExitErr then says how. A supervisor
// selects on it to notice the death at once.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// ExitErr returns how postgres exited (never nil once Exited is closed), or nil while it
// runs.
func (s *Server) ExitErr() error {
	select {
	case <-s.exited:
		if s.waitErr == nil {
			return errors.New("postgres exited with status 0")
		}
		return s.waitErr
	default:
		return nil
	}
}

// Stop shuts postgres down (fast shutdown: open sessions are ended, committed data is
// kept), waits for it to exit and then removes the data folder if Start created it as a
// temporary one. Calling Stop again returns the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	select {
	case <-s.exited:
		errs = append(errs, fmt.Errorf("postgres had already exited: %v\n%s", s.waitErr, s.output.tail()))
	default:
		// SIGINT is postgres's fast shutdown, the same as `pg_ctl stop -m fast`.
		if err := s.proc.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("signal postgres: %w", err))
		}
		select {
		case <-s.exited:
		case <-time.After(shutdownTimeout):
			s.quit()
			errs = append(errs, fmt.Errorf("postgres did not finish a fast shutdown within %s", shutdownTimeout))
		}
		if s.waitErr != nil {
			errs = append(errs, fmt.Errorf("postgres exit: %w\n%s", s.waitErr, s.output.tail()))
		}
		s.logger.Info("PostgreSQL stopped", slog.Int("port", s.port))
	}
	if err := s.removeTemp(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// launch starts postgres on port and waits until it accepts connections; on failure
// postgres is no longer running.
func (s *Server) launch(ctx context.Context, binDir string, port int, fast bool, acct *account) error {
	args := []string{
		"-D", s.dataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + socketDir(s.dataDir),
		"-c", "max_connections=300",
		"-c", "shared_buffers=128MB",
	}
	if fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(binPath(binDir, "postgres"), args...)
	cmd.Dir = s.dataDir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = s.output, s.output
	cmd.SysProcAttr = serverProcAttr(acct)

	s.output.reset()
	s.port = port
	s.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// The parent-death signal is sent when the thread that started the child exits,
		// not the process; keeping this goroutine on its own thread until postgres exits
		// makes the signal mean "the parent process died".
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.proc = cmd.Process

	if err := s.waitReady(ctx); err != nil {
		s.quit()
		return err
	}
	return nil
}

// quit stops postgres at once and waits until it has exited: SIGQUIT, its immediate
// shutdown (the next start runs crash recovery), then SIGKILL if it is still running
// 5 s later.
func (s *Server) quit() {
	_ = s.proc.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.proc.Kill()
		<-s.exited
	}
}

// waitReady polls until postgres accepts a connection, postgres exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// A connection attempt ends as soon as postgres exits: when another program owns
	// the port, it might otherwise wait for that program's answer.
	connCtx, cancelConn := context.WithCancel(ctx)
	defer cancelConn()
	go func() {
		select {
		case <-s.exited:
			cancelConn()
		case <-connCtx.Done():
		}
	}()
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(connCtx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, s.URL())
		cancelAttempt()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start (%v):\n%s", s.waitErr, s.output.tail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections on port %d: %w (last error: %v)\n%s",
				s.port, ctx.Err(), err, s.output.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// initdb creates a cluster in dir.
func initdb(ctx context.Context, binDir, dir string, acct *account, logger *slog.Logger) error {
	cmd := exec.CommandContext(ctx, binPath(binDir, "initdb"),
		"-D", dir,
		"-U", "postgres",
		"--auth=trust", // local and loopback connections; postgres listens on loopback only
		"--encoding=UTF8",
		"--locale=C", // bytewise collation: the same results on every machine
		"--no-sync",
	)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.SysProcAttr = initdbProcAttr(acct)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return describeExit("initdb "+dir, err, out)
	}
	logger.Info("PostgreSQL cluster created", slog.String("dir", dir), slog.Duration("took", time.Since(start)))
	logger.Debug("initdb output", slog.String("output", string(out)))
	return nil
}

// childEnv is the environment of initdb and postgres: the caller's, with English messages
// (Start recognizes some of them) and without libpq variables that would point the
// programs elsewhere.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PGDATA=") || strings.HasPrefix(kv, "LC_ALL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// socketDir returns the folder for postgres's Unix socket: the data folder, or none at
// all ("") when its path is too long for a socket address.
func socketDir(dataDir string) string {
	const maxSocketPath = 107 // sun_path holds 108 bytes with the terminating NUL
	if len(dataDir)+len("/.s.PGSQL.65535.lock") > maxSocketPath {
		return ""
	}
	return dataDir
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
