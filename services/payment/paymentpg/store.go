package paymentpg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/payment/payment"
)

// EventPayload turns a domain event into its events.proto payload; the transport supplies it.
type EventPayload func(payment.Event) (proto.Message, error)

// Options configures a Store.
type Options struct {
	// EventPayload builds event payloads; without it events carry no payload.
	EventPayload EventPayload
	// Notify, when set, is called after a transaction that emitted events commits, to wake the
	// outbox's sequencer (outbox.Log.Notify).
	Notify func()
}

// Store is the payment schema in PostgreSQL. It implements payment.Store.
type Store struct {
	reader
	pool *pgxpool.Pool
	opts Options
}

// New returns a Store on pool, whose search_path is the payment schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{reader: reader{q: pool}, pool: pool, opts: opts}
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reader implements payment.Reader on a pool or a transaction.
type reader struct{ q querier }

// tx implements payment.Tx.
type tx struct {
	reader
	tx      pgx.Tx
	store   *Store
	emitted bool
}

// InTx runs fn in a transaction, retried on serialization failures and deadlocks, and wakes
// the outbox's sequencer after a commit that emitted events.
func (s *Store) InTx(ctx context.Context, fn func(payment.Tx) error) error {
	emitted := false
	err := pgxutil.InTxOpts(ctx, s.pool, pgxutil.TxOptions{MaxRetries: 3}, func(ptx pgx.Tx) error {
		t := &tx{reader: reader{q: ptx}, tx: ptx, store: s}
		err := fn(t)
		emitted = t.emitted
		return err
	})
	if err != nil {
		return mapError(err)
	}
	if emitted && s.opts.Notify != nil {
		s.opts.Notify()
	}
	return nil
}

// Emit writes events to the outbox in the transaction.
func (t *tx) Emit(ctx context.Context, events ...payment.Event) error {
	if len(events) == 0 {
		return nil
	}
	out := make([]outbox.Event, len(events))
	for i, ev := range events {
		out[i] = outbox.Event{Type: ev.Type, Key: ev.Key}
		if t.store.opts.EventPayload != nil {
			msg, err := t.store.opts.EventPayload(ev)
			if err != nil {
				return fmt.Errorf("event %s payload: %w", ev.Type, err)
			}
			out[i].Payload = msg
		}
	}
	if err := outbox.Emit(ctx, t.tx, out...); err != nil {
		return err
	}
	t.emitted = true
	return nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// timeOf reads a nullable timestamp in UTC.
func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

var (
	_ payment.Store = (*Store)(nil)
	_ payment.Tx    = (*tx)(nil)
)
