package paymentpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/txn"
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
	// Keys configures the idempotency keys (their TTL, lease and clock): the lease must be
	// the domain's (payment.Options.Lease).
	Keys idempotencypg.Options
}

// Store is the payment schema in PostgreSQL. It implements payment.Store.
type Store struct {
	reader
	pool    *pgxpool.Pool
	txns    *txn.Runner
	keys    *idempotencypg.Keys
	payload EventPayload
}

// New returns a Store on pool, whose search_path is the payment schema. It does no I/O.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{reader: reader{q: pool}, pool: pool, txns: txn.New(pool, txn.Options{Notify: opts.Notify}),
		keys: idempotencypg.New(opts.Keys), payload: opts.EventPayload}
}

// reader implements payment.Reader on the pool or a transaction.
type reader struct{ q txn.Querier }

// tx implements payment.Tx on a kit/txn transaction.
type tx struct {
	reader
	tx      *txn.Tx
	keys    *idempotencypg.Keys
	payload EventPayload
}

// Transact runs fn in a kit/txn transaction: retried from the start after a serialization
// failure or a deadlock, its events written to the outbox with the commit, the sequencer
// woken after it.
func (s *Store) Transact(ctx context.Context, fn func(payment.Tx) error) error {
	return s.txns.Run(ctx, func(t *txn.Tx) error {
		return fn(&tx{reader: reader{q: t}, tx: t, keys: s.keys, payload: s.payload})
	})
}

// Emit queues events for the outbox, with their payloads.
func (t *tx) Emit(events ...payment.Event) error {
	out := make([]outbox.Event, len(events))
	for i, ev := range events {
		out[i] = outbox.Event{Type: ev.Type, Key: ev.Key}
		if t.payload != nil {
			msg, err := t.payload(ev)
			if err != nil {
				return fmt.Errorf("event %s payload: %w", ev.Type, err)
			}
			out[i].Payload = msg
		}
	}
	t.tx.Emit(out...)
	return nil
}

// AcquireKey claims an idempotency key with a lease, on the pool, and hands the claim to
// the domain as a plain value.
func (s *Store) AcquireKey(ctx context.Context, k idempotency.Key, memo []byte) (idempotency.Lease, error) {
	c, err := s.keys.Acquire(ctx, s.pool, k, memo)
	if err != nil {
		return idempotency.Lease{}, err
	}
	return c.Lease(), nil
}

// CompleteKey stores the result of a leased key in a statement of its own.
func (s *Store) CompleteKey(ctx context.Context, l idempotency.Lease, result []byte) error {
	return s.keys.Resume(l).Complete(ctx, s.pool, result)
}

// AbandonKey gives a leased key up.
func (s *Store) AbandonKey(ctx context.Context, l idempotency.Lease) error {
	return s.keys.Resume(l).Abandon(ctx, s.pool)
}

// ResolveKey replaces the pending result of a replayed key.
func (s *Store) ResolveKey(ctx context.Context, l idempotency.Lease, result []byte) error {
	return s.keys.Resume(l).Resolve(ctx, s.pool, result)
}

// PruneKeys deletes expired idempotency keys.
func (s *Store) PruneKeys(ctx context.Context) (int64, error) { return s.keys.Prune(ctx, s.pool) }

// CompleteKey stores the result of a leased key in the transaction.
func (t *tx) CompleteKey(ctx context.Context, l idempotency.Lease, result []byte, pending bool) error {
	c := t.keys.Resume(l)
	if pending {
		return c.CompletePending(ctx, t.tx, result)
	}
	return c.Complete(ctx, t.tx, result)
}

// missing says which row a read did not find: "payment <id> not found".
func missing(err error, what, id string) error {
	if errors.Is(err, errs.NotFound) {
		return errs.Missing("", "%s %s not found", what, id).WithCause(err)
	}
	return err
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
