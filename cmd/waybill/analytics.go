package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/analytics/analyticspg"
	"github.com/waybill/waybill/services/analytics/sourceevents"
)

const analyticsUsage = `usage: waybill analytics rebuild [flags]

Replays every source's event log (booking, payment, billing, fare, trip) from its start into a
fresh schema (dropped and created again), with the same handlers the analytics service
runs, and returns once each source's consumer has applied everything the source had.
The running service's tables are not touched: compare, then point the service at the
rebuilt schema (or rename the schemas with the service stopped).

flags:
  --database-url URL    PostgreSQL (default $WAYBILL_DATABASE_URL or $DATABASE_URL)
  --schema NAME         the schema to rebuild into (default analytics_rebuild; never "analytics")
  --booking-addr, --payment-addr, --billing-addr, --fare-addr, --trip-addr HOST:PORT
                        the sources (default: the local mesh's addresses; empty skips one)
  --timeout D           give up after D (default 10m)
`

// analyticsCommand runs `waybill analytics <command>`.
func analyticsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		_, _ = io.WriteString(stdout, analyticsUsage)
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("analytics: the command is rebuild")
	}
	fs := flag.NewFlagSet("waybill analytics rebuild", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dbURL := fs.String("database-url", analyticsFirstSet(getenv("WAYBILL_DATABASE_URL"), getenv("DATABASE_URL")), "")
	schema := fs.String("schema", "analytics_rebuild", "")
	timeout := fs.Duration("timeout", 10*time.Minute, "")
	addrs := map[string]*string{}
	for _, s := range sourceevents.Sources {
		addrs[s.Name] = fs.String(s.Name+"-addr", serve.DefaultAddr(s.Name), "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n\n%s", err, analyticsUsage)
	}
	if *dbURL == "" {
		return errors.New("analytics rebuild: --database-url (or WAYBILL_DATABASE_URL / DATABASE_URL) is required")
	}
	if *schema == "" || *schema == analyticsapp.Name {
		return fmt.Errorf("analytics rebuild: --schema must name a schema other than %q", analyticsapp.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	secret := getenv(config.EnvName("auth-secret"))
	if secret == "" {
		secret = serve.DevAuthSecret
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return err
	}
	admin, err := pgxutil.NewPool(*dbURL, pgxutil.PoolConfig{})
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{*schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("analytics rebuild: drop schema %s: %w", *schema, err)
	}
	if err := pgxutil.Migrate(ctx, admin, *schema, analyticspg.Migrations); err != nil {
		return fmt.Errorf("analytics rebuild: %w", err)
	}
	pool, err := pgxutil.NewPool(*dbURL, pgxutil.PoolConfig{Schema: *schema, StatementTimeout: -1})
	if err != nil {
		return err
	}
	defer pool.Close()

	sources := map[string]eventsv1.EventStreamServiceClient{}
	for _, s := range sourceevents.Sources {
		if *addrs[s.Name] == "" {
			continue
		}
		conn, err := grpcclient.Dial(*addrs[s.Name], grpcclient.Options{},
			signer.DialOption(auth.Identity{Subject: analyticsapp.Name, Role: auth.RoleService}))
		if err != nil {
			return err
		}
		defer conn.Close()
		sources[s.Name] = eventsv1.NewEventStreamServiceClient(conn)
	}
	start := time.Now()
	if err := analyticsapp.Rebuild(ctx, analyticsapp.RebuildConfig{Pool: pool, Sources: sources}); err != nil {
		return fmt.Errorf("analytics rebuild: %w (a source may be down: it must be reachable to be replayed)", err)
	}
	fmt.Fprintf(stdout, "rebuilt schema %s from %d sources in %s\n", *schema, len(sources), time.Since(start).Round(time.Millisecond))
	return nil
}

func analyticsFirstSet(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
