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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/pglocal"
	"github.com/waybill/waybill/kit/serve"
)

// up runs the whole local mesh: a throwaway PostgreSQL (unless a database URL is given),
// then every service and the gateway, each as its own `waybill serve` process on
// loopback, so that one can be killed without the others. A child that dies is logged and
// left dead; the mesh stops on SIGINT/SIGTERM.
func up(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill up", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dbURL := fs.String("database-url", "", "PostgreSQL URL to use; empty starts a throwaway cluster")
	dataDir := fs.String("data-dir", "", "data folder of the throwaway cluster; empty uses a temporary folder, removed on exit")
	logFormat := fs.String("log-format", "text", "log format of every process: json or text")
	logLevel := fs.String("log-level", "info", "log level of every process")
	secret := fs.String("auth-secret", serve.DevAuthSecret, "token secret shared by every service")
	offset := fs.Int("port-offset", 0, "added to every default port, to run a second mesh beside the first")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	logger, err := serve.Logger(stdout, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With(slog.String("service", "up"))

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
		logger.Info("throwaway PostgreSQL started", slog.String("url", pg.URL()))
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
	env = append(env, config.EnvName("providers")+"="+providers(addr))
	var children []*child
	defer func() { stopAll(logger, children) }()
	for _, s := range specs {
		args := append([]string{"--grpc-addr", addr(portsOf(s.Name).GRPC), "--http-addr", addr(portsOf(s.Name).HTTP)}, common...)
		c, err := startChild(logger, self, s.Name, args, env, stdout)
		if err != nil {
			return err
		}
		children = append(children, c)
	}
	gw, err := startChild(logger, self, "gateway", append([]string{"--http-addr", addr(portsOf("gateway").HTTP)}, common...), env, stdout)
	if err != nil {
		return err
	}
	children = append(children, gw)

	if err := waitHealthy(ctx, "http://"+addr(portsOf("gateway").HTTP)+"/healthz", 90*time.Second); err != nil {
		return fmt.Errorf("mesh did not become healthy: %w", err)
	}
	fmt.Fprintf(stdout, "\nWaybill is up. REST gateway: http://%s (OpenAPI at /openapi.json)\n", addr(portsOf("gateway").HTTP))
	for _, s := range specs {
		fmt.Fprintf(stdout, "  %-9s gRPC %s  metrics http://%s/metrics\n", s.Name, addr(portsOf(s.Name).GRPC), addr(portsOf(s.Name).HTTP))
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// providers is billing's --providers value for the local mesh: which service owns each
// kind of reservation, and where it listens.
func providers(addr func(int) string) string {
	owner := map[string]string{}
	for _, s := range specs {
		owner[s.Name] = addr(portsOf(s.Name).GRPC)
	}
	var parts []string
	for _, k := range []struct{ kind, svc string }{{"flight", "booking"}, {"train", "booking"}, {"bus", "booking"}, {"stay", "booking"}, {"ride", "trip"}} {
		parts = append(parts, k.kind+"="+k.svc+"@"+owner[k.svc])
	}
	return strings.Join(parts, ",")
}

// child is one `waybill serve` process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(logger *slog.Logger, self, name string, args, env []string, out io.Writer) (*child, error) {
	cmd := exec.Command(self, append([]string{"serve", name}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	// The child dies with us even if we are killed without a chance to clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	logger.Info("process started", slog.String("process", name), slog.Int("pid", cmd.Process.Pid))
	go func() {
		err := cmd.Wait()
		close(c.done)
		logger.Info("process exited", slog.String("process", name), slog.Int("pid", cmd.Process.Pid), slog.Any("status", err))
	}()
	return c, nil
}

// stopAll asks every child to stop, waits for them, and kills those that do not.
func stopAll(logger *slog.Logger, children []*child) {
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(15 * time.Second):
				logger.Warn("killing", slog.String("process", c.name))
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		}()
	}
	wg.Wait()
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
