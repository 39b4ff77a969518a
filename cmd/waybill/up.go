package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/pglocal"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billingapp"
)

// up runs the whole local mesh: a throwaway PostgreSQL (unless a database URL is given),
// then every service and the gateway, each as its own `waybill serve` process on
// loopback, so that one can be killed without the others. A child that dies is logged
// and restarted after a backoff (supervisor). The mesh stops on SIGINT/SIGTERM, and
// exits with an error as soon as the throwaway PostgreSQL dies: every service depends on
// it, and restarting it in place would hide whatever killed it.
func up(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill up", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbURL := fs.String("database-url", "", "PostgreSQL URL to use; empty starts a throwaway cluster")
	dataDir := fs.String("data-dir", "", "data folder of the throwaway cluster; empty uses a temporary folder, removed on exit")
	logFormat := fs.String("log-format", "text", "log format of every process: json or text")
	logLevel := fs.String("log-level", "info", "log level of every process")
	secret := fs.String("auth-secret", serve.DevAuthSecret, "token secret shared by every service")
	offset := fs.Int("port-offset", 0, "added to every default port, to run a second mesh beside the first")
	demo := fs.Bool("demo", false, "seed a demo day once the mesh is up: departures, a hotel, 45 bills of 12 customers (see demo.go)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	logger, err := serve.Logger(stdout, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With(slog.String("service", "up"))

	// pgExited is closed when the throwaway cluster dies; nil (never) for a database the
	// mesh does not own.
	var pgExited <-chan struct{}
	var pgErr func() error
	if *dbURL == "" {
		pg, err := pglocal.Start(ctx, pglocal.Options{Dir: *dataDir, Logger: logger})
		if err != nil {
			return fmt.Errorf("start throwaway PostgreSQL: %w", err)
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				logger.Error("stop PostgreSQL", slog.Any("error", err))
			}
		}()
		*dbURL = pg.URL()
		pgExited, pgErr = pg.Exited(), pg.ExitErr
		logger.Info("throwaway PostgreSQL started", slog.String("url", pg.URL()))
	}
	pgDied := func() error {
		logger.Error("PostgreSQL died; stopping the mesh", slog.Any("status", pgErr()))
		return fmt.Errorf("the throwaway PostgreSQL died (%v); the mesh stopped", pgErr())
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	common := []string{"--log-format", *logFormat, "--log-level", *logLevel}
	addr := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", port+*offset) }
	// Secrets travel in the environment, not on command lines that ps shows. So do the
	// services' addresses, which every process reads through its --<service>-addr flags.
	// The database URL may hold a password too.
	env := append(os.Environ(), config.EnvName("auth-secret")+"="+*secret, config.EnvName("database-url")+"="+*dbURL)
	for _, s := range specs {
		env = append(env, config.EnvName(s.Name+"-addr")+"="+addr(portsOf(s.Name).GRPC))
	}
	env = append(env, config.EnvName("providers")+"="+billingapp.MeshProviders(func(svc string) string { return addr(portsOf(svc).GRPC) }))
	sup := newSupervisor(logger, self, env, stdout)
	defer sup.stopAll()
	for _, s := range specs {
		args := append([]string{"--grpc-addr", addr(portsOf(s.Name).GRPC), "--http-addr", addr(portsOf(s.Name).HTTP)}, common...)
		if err := sup.start(s.Name, args); err != nil {
			return err
		}
	}
	if err := sup.start("gateway", append([]string{"--http-addr", addr(portsOf("gateway").HTTP)}, common...)); err != nil {
		return err
	}

	healthy := make(chan error, 1)
	go func() {
		healthy <- waitHealthy(ctx, "http://"+addr(portsOf("gateway").HTTP)+"/healthz", 90*time.Second)
	}()
	select {
	case err := <-healthy:
		if err != nil {
			return fmt.Errorf("mesh did not become healthy: %w", err)
		}
	case <-pgExited:
		return pgDied()
	}
	var day demoDay
	if *demo {
		var err error
		if day, err = seedDemo(ctx, "http://"+addr(portsOf("gateway").HTTP), *secret); err != nil {
			logger.Error("demo data not seeded", slog.Any("error", err))
		} else {
			logger.Info("demo data seeded", slog.Int("bills", day.Bills), slog.String("driver", day.DriverID))
		}
	}
	fmt.Fprintf(stdout, "\nWaybill is up. REST gateway: http://%s (OpenAPI at /openapi.json)\n", addr(portsOf("gateway").HTTP))
	for _, s := range specs {
		fmt.Fprintf(stdout, "  %-9s gRPC %s  metrics http://%s/metrics\n", s.Name, addr(portsOf(s.Name).GRPC), addr(portsOf(s.Name).HTTP))
	}
	if link, err := signInLink(addr(portsOf("gateway").HTTP), *secret, auth.Identity{Subject: "ops-local", Role: auth.RoleOperator}); err == nil {
		fmt.Fprintf(stdout, "Operator panel (this link signs you in as an operator): %s\n", link)
	} else {
		logger.Warn("no sign-in link", slog.Any("error", err))
	}
	if day.DriverID != "" {
		if link, err := signInLink(addr(portsOf("gateway").HTTP), *secret, auth.Identity{Subject: day.DriverID, Role: auth.RoleDriver}); err == nil {
			fmt.Fprintf(stdout, "Driver page (this link signs you in as the demo driver): %s\n", link)
		}
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case <-pgExited:
		return pgDied()
	}
}

// Restart backoff of the supervisor: the first restart comes after restartInitial, each
// quick crash after that waits longer (×1.5, jittered) up to restartMax, and a process
// that ran for stableRun before it died starts over from restartInitial.
const (
	restartInitial = 500 * time.Millisecond
	restartMax     = 30 * time.Second
	stableRun      = time.Minute
	stopTimeout    = 15 * time.Second
)

// supervisor runs the mesh's `waybill serve` processes and restarts one that exits while
// the mesh runs, after a backoff (cenkalti/backoff), logging each exit and restart.
type supervisor struct {
	logger *slog.Logger
	self   string
	env    []string
	out    io.Writer
	wg     sync.WaitGroup

	stop chan struct{} // closed when stopAll begins

	mu       sync.Mutex
	stopping bool
	running  map[string]*proc // the current process of each name
}

// proc is one run of a process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited
}

func newSupervisor(logger *slog.Logger, self string, env []string, out io.Writer) *supervisor {
	return &supervisor{logger: logger, self: self, env: env, out: out, stop: make(chan struct{}), running: map[string]*proc{}}
}

// errStopping is spawn's answer once stopAll has begun.
var errStopping = errors.New("the mesh is stopping")

// start starts `waybill serve name args...` and supervises it until stopAll.
func (s *supervisor) start(name string, args []string) error {
	p, err := s.spawn(name, args)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go s.watch(name, args, p)
	return nil
}

// spawn starts one run of the process, unless the mesh is stopping.
func (s *supervisor) spawn(name string, args []string) (*proc, error) {
	cmd := exec.Command(s.self, append([]string{"serve", name}, args...)...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s.out, s.out
	// The child dies with us even if we are killed without a chance to clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, errStopping
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	s.running[name] = p
	s.logger.Info("process started", slog.String("process", name), slog.Int("pid", cmd.Process.Pid))
	return p, nil
}

// watch waits for each run of the process to end and starts the next one after the
// backoff, until the mesh stops.
func (s *supervisor) watch(name string, args []string, p *proc) {
	defer s.wg.Done()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = restartInitial, restartMax
	for {
		started := time.Now()
		err := p.cmd.Wait()
		close(p.done)
		s.logger.Info("process exited", slog.String("process", name), slog.Int("pid", p.cmd.Process.Pid), slog.Any("status", err))
		for {
			if s.isStopping() {
				return
			}
			if time.Since(started) >= stableRun {
				b.Reset()
			}
			delay := b.NextBackOff()
			s.logger.Warn("restarting process", slog.String("process", name), slog.Duration("after", delay))
			select {
			case <-s.stop:
				return
			case <-time.After(delay):
			}
			next, err := s.spawn(name, args)
			if err == nil {
				p = next
				break
			}
			if errors.Is(err, errStopping) {
				return
			}
			s.logger.Error("restart failed", slog.String("process", name), slog.Any("error", err))
			started = time.Now()
		}
	}
}

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// stopAll stops restarting, asks every process to stop (SIGTERM), waits for them, and
// kills those that do not stop within stopTimeout.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	s.stopping = true
	close(s.stop)
	procs := make(map[string]*proc, len(s.running))
	for name, p := range s.running {
		procs[name] = p
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for name, p := range procs {
		wg.Go(func() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopTimeout):
				s.logger.Warn("killing", slog.String("process", name))
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		})
	}
	wg.Wait()
	s.wg.Wait()
}

// waitHealthy polls url until it answers 200.
func waitHealthy(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error = errors.New("no answer yet")
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(200 * time.Millisecond):
		}
	}
}
