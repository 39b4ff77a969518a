// Package accountgate is Waybill's one gate on suspended customers. The account service
// suspends and reinstates accounts and says so in its event log; a service that must
// refuse suspended customers (booking's holds, billing's payments, trip's ride requests)
// keeps its own copy of who is suspended, fed by those events through kit/consumer, and
// asks that copy, never the account service, on each request:
//
//	gate, err := accountgate.Start(ctx, d, c.AccountAddr, name) // in the composition root
//	...
//	if err := gate.CheckCustomer(ctx, customerID); err != nil { // in the use case
//		return err // FAILED_PRECONDITION, reason CUSTOMER_SUSPENDED
//	}
//
// The consuming service merges Migrations (table customer_suspension, file 0400) and
// consumer.Migrations into its schema's migrations. A suspension reaches the gate as fast
// as the event stream delivers it (the account service wakes its stream on commit; tens of
// milliseconds on loopback), and an account's events are applied in version order. A
// deletion does not lift a suspension. Before its first event, a consumer seeds the table
// from the account service's ListAccounts (Seed), so suspensions older than the account
// log's retention are known too. Not handled: a consumer that falls further behind than
// the retention (consumer.ErrCursorOutOfRange) is restarted every 30 s and logs it, but
// needs its cursor reset by an operator to resynchronize.
package accountgate

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
)

// ReasonCustomerSuspended is the reason of the FAILED_PRECONDITION error refusing a
// suspended customer, in every service that gates on suspension.
const ReasonCustomerSuspended = "CUSTOMER_SUSPENDED"

// The account service's events the gate consumes, and the name of its consumer.
const (
	// Source is the account service's name, the source of the events.
	Source = "account"
	// EventSuspended is account's event for ACTIVE → SUSPENDED.
	EventSuspended = "account.account.suspended"
	// EventReinstated is account's event for SUSPENDED → ACTIVE.
	EventReinstated = "account.account.reinstated"
	// ConsumerName names the gate's consumer (its cursor and parked events) in the
	// consuming service's schema.
	ConsumerName = "account-suspensions"
)

// Types are the event types the gate consumes.
var Types = []string{EventSuspended, EventReinstated}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the gate's table (customer_suspension) as *.sql files named
// 0400_account_gate.sql and up, to be merged into the consuming service's migrations with
// consumer.Migrations.
var Migrations fs.FS = pgxutil.Dir(migrationFiles, "migrations")

// applySQL records an account's suspension state unless a newer version is recorded.
const applySQL = `INSERT INTO customer_suspension (customer_id, suspended, reason, version, update_time)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (customer_id) DO UPDATE SET suspended = excluded.suspended, reason = excluded.reason,
	version = excluded.version, update_time = excluded.update_time
WHERE customer_suspension.version < excluded.version`

// Handle is the gate's consumer.Handler: it applies account.account.suspended and
// account.account.reinstated to customer_suspension in the consumer's transaction and
// ignores every other event.
func Handle(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
	var a *accountv1.Account
	switch ev.GetType() {
	case EventSuspended:
		var p accountv1.AccountSuspendedEvent
		if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
			return fmt.Errorf("decode %s %s: %w", ev.GetType(), ev.GetId(), err)
		}
		a = p.GetAccount()
	case EventReinstated:
		var p accountv1.AccountReinstatedEvent
		if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
			return fmt.Errorf("decode %s %s: %w", ev.GetType(), ev.GetId(), err)
		}
		a = p.GetAccount()
	default:
		return nil
	}
	if a.GetId() == "" {
		return fmt.Errorf("%s %s carries no account", ev.GetType(), ev.GetId())
	}
	suspended := a.GetStatus() == accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED
	reason := ""
	if suspended {
		reason = a.GetSuspension().GetReason()
	}
	if _, err := tx.Exec(ctx, applySQL, a.GetId(), suspended, reason, a.GetVersion()); err != nil {
		return fmt.Errorf("apply %s of %s: %w", ev.GetType(), a.GetId(), err)
	}
	return nil
}

// Gate answers, from the consuming service's own table, whether a customer is suspended.
// A nil *Gate admits everyone (the gate is not configured).
type Gate struct {
	pool *pgxpool.Pool
}

// New returns a gate reading pool's customer_suspension table.
func New(pool *pgxpool.Pool) *Gate { return &Gate{pool: pool} }

const suspendedSQL = `SELECT suspended FROM customer_suspension WHERE customer_id = $1`

// CheckCustomer returns FAILED_PRECONDITION (reason CUSTOMER_SUSPENDED) when customerID is
// suspended, nil otherwise (also for customers the gate never heard of: accounts are
// active until suspended).
func (g *Gate) CheckCustomer(ctx context.Context, customerID string) error {
	if g == nil || customerID == "" {
		return nil
	}
	var suspended bool
	err := g.pool.QueryRow(ctx, suspendedSQL, customerID).Scan(&suspended)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return pgxutil.MapError(fmt.Errorf("read suspension of customer %s: %w", customerID, err))
	case suspended:
		return errs.Precondition(ReasonCustomerSuspended, "customer %s is suspended: contact support", customerID)
	}
	return nil
}

// Config returns the gate's consumer configuration on pool, subscribing through client.
func Config(client eventsv1.EventStreamServiceClient, pool *pgxpool.Pool, logger *slog.Logger) consumer.Config {
	return consumer.Config{
		Name: ConsumerName, Source: Source, Client: client, Pool: pool, Types: Types,
		PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL, Logger: logger,
	}
}

// Seed records, from the account service's ListAccounts, every account suspended now
// (version-guarded, like the events), and returns how many it listed. Start runs it
// before a consumer's first event, so a service that starts consuming after the account
// log's retention (7 days by default) dropped a suspension still knows of it; the events
// the consumer then replays are older or newer than what Seed wrote, and the version
// guard keeps the newest.
func Seed(ctx context.Context, accounts accountv1.AccountServiceClient, pool *pgxpool.Pool) (int, error) {
	n, token := 0, ""
	for {
		resp, err := accounts.ListAccounts(ctx, &accountv1.ListAccountsRequest{
			Status: accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED, PageSize: 500, PageToken: token, View: typev1.View_VIEW_STANDARD,
		})
		if err != nil {
			return n, fmt.Errorf("list suspended accounts: %w", err)
		}
		b := &pgx.Batch{}
		for _, a := range resp.GetAccounts() {
			b.Queue(applySQL, a.GetId(), true, a.GetSuspension().GetReason(), a.GetVersion())
		}
		if err := pool.SendBatch(ctx, b).Close(); err != nil {
			return n, pgxutil.MapError(fmt.Errorf("record suspended accounts: %w", err))
		}
		n += len(resp.GetAccounts())
		if token = resp.GetNextPageToken(); token == "" {
			return n, nil
		}
	}
}

// restartDelay is how long Start waits before running the consumer again after it stopped
// before its context ended (its cursor fell out of the account log's retention).
const restartDelay = 30 * time.Second

// Start dials the account service at addr as the service named caller, starts the gate's
// consumer on d.Pool once d's migrations are applied, and returns the gate; the
// consumer runs until ctx ends. An empty addr disables the gate: Start returns nil, which
// admits everyone. The consumer's cursor and parked events live in the service's schema;
// register Handle under ConsumerName with the service's consumer.Parking to let operators
// replay parked ones.
func Start(ctx context.Context, d serve.Deps, addr, service string, dial ...grpc.DialOption) (*Gate, error) {
	if addr == "" {
		return nil, nil
	}
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(caller.Caller{Subject: service, Role: caller.Service}))
	}
	conn, err := grpcclient.Dial(addr, grpcclient.Options{}, dial...)
	if err != nil {
		return nil, fmt.Errorf("%s: dial account at %s: %w", service, addr, err)
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := Config(eventsv1.NewEventStreamServiceClient(conn), d.Pool, logger)
	if d.Events != nil {
		cfg.Notify = d.Events.Notify
	}
	if d.Telemetry != nil {
		cfg.Meter = d.Telemetry.MeterProvider.Meter(service)
		cfg.TracerProvider = d.Telemetry.TracerProvider
	}
	go func() {
		defer conn.Close()
		if !d.AwaitMigrations(ctx) {
			return
		}
		if !seedOnce(ctx, accountv1.NewAccountServiceClient(conn), d.Pool, logger) {
			return
		}
		for {
			err := consumer.Run(ctx, cfg, Handle)
			if ctx.Err() != nil {
				return
			}
			logger.Error("account gate consumer stopped", slog.Any("error", err), slog.Duration("restart_in", restartDelay))
			select {
			case <-ctx.Done():
				return
			case <-time.After(restartDelay):
			}
		}
	}()
	return New(d.Pool), nil
}

// seedOnce runs Seed unless the consumer has applied events before (its cursor is set),
// retrying every few seconds while the account service is unreachable; it reports false
// when ctx ended first.
func seedOnce(ctx context.Context, accounts accountv1.AccountServiceClient, pool *pgxpool.Pool, logger *slog.Logger) bool {
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		pos, err := consumer.Cursor(ctx, pool, ConsumerName, Source)
		if err == nil && pos != (consumer.Position{}) {
			return true
		}
		if err == nil {
			var n int
			if n, err = Seed(ctx, accounts, pool); err == nil {
				logger.Info("account gate seeded", slog.Int("suspended", n))
				return true
			}
		}
		if c := status.Code(err); err != nil && c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.Unknown {
			// A refusal that retrying will not change: consume the events anyway.
			logger.Error("account gate not seeded: only suspensions still in the account log are known", slog.Any("error", err))
			return true
		}
		logger.Warn("account gate not seeded yet", slog.Any("error", err), slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}
