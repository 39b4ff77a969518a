// Command waybill runs Waybill: one service (`waybill serve booking`), the REST gateway
// (`waybill serve gateway`), or the whole local mesh (`waybill up`), each service in its
// own OS process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "waybill:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  waybill serve <service> [flags]   run one service: %s, or gateway
  waybill up [flags]                run the whole local mesh (every service and the gateway)
  waybill parked list|replay|discard --addr HOST:PORT ...   inspect and repair a consumer's dead letters
  waybill token --subject S --role R  print a bearer token (customer, driver, operator, service)
  waybill bench reserve --gateway URL --rate N --duration D   open-loop load on the reservation write path
  waybill bench ride --gateway URL --rate N --duration D      open-loop ride requests with simulated drivers (R1)
  waybill analytics rebuild [flags] replay every source into a fresh analytics schema
  waybill help                      show this text
Flags of a command: waybill <command> ... -h
`

// run dispatches to a subcommand. It is main without the process exit, for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stdout, usage, serviceNames())
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		if len(args) < 2 {
			return fmt.Errorf("serve: which service? one of %s, gateway", serviceNames())
		}
		return serveOne(ctx, args[1], args[2:], getenv, stdout)
	case "up":
		return up(ctx, args[1:], getenv, stdout)
	case "parked":
		return parked(ctx, args[1:], getenv, stdout)
	case "token":
		return token(ctx, args[1:], getenv, stdout)
	case "bench":
		return bench(ctx, args[1:], getenv, stdout)
	case "analytics":
		return analyticsCommand(ctx, args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, serviceNames())
		return nil
	}
	return fmt.Errorf("unknown command %q (try: waybill help)", args[0])
}
