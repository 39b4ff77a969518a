package bookingpg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/booking/booking"
)

// Options configures a Store.
type Options struct {
	// Encode turns a domain event into its payload message (the transport's converter).
	// Required.
	Encode func(booking.Event) (proto.Message, error)
	// Notify, when set, is called after every commit that wrote events, to wake the
	// outbox sequencer (outbox.Log.Notify).
	Notify func()
	// Keys claims the idempotency keys of retriable changes (idempotencypg); nil means
	// keys with the default lifetime on the wall clock. The composition root, which also
	// prunes them, passes its own.
	Keys *idempotencypg.Keys
}

// Store is booking's storage on PostgreSQL; it implements booking.Store. Its writes run
// in kit/txn transactions, whose BEGIN and COMMIT ride along with the first statement
// and the outbox insert, and claim their idempotency keys with idempotencypg inside
// those transactions, queued into batches they send anyway where they can.
type Store struct {
	pool *pgxpool.Pool
	tx   *txn.Runner
	keys *idempotencypg.Keys
	opts Options
}

var _ booking.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the booking schema.
func New(pool *pgxpool.Pool, o Options) *Store {
	keys := o.Keys
	if keys == nil {
		keys = idempotencypg.New(idempotencypg.Options{})
	}
	return &Store{pool: pool, tx: txn.New(pool, txn.Options{Notify: o.Notify}), keys: keys, opts: o}
}

// constraints are the schema's named constraints that stand for a booking rule: the
// capacity checks behind every counter row, which refuse what a query that forgot its
// capacity condition would overbook.
var constraints = pgxutil.Constraints{
	"fare_class_not_overbooked": booking.ErrInsufficientAvailability,
	"room_night_not_overbooked": booking.ErrInsufficientAvailability,
}

// mapErr translates a database error into the domain's, once: the named constraints
// into booking's errors, everything else as pgxutil.MapError does. Domain errors pass
// through unchanged.
func mapErr(err error) error { return constraints.Map(err) }

// run runs fn in a transaction (kit/txn: retried after a lost race, events committed
// with it); its errors come back mapped by mapErr.
func (s *Store) run(ctx context.Context, fn func(tx *txn.Tx) error) error {
	return s.tx.Run(ctx, func(tx *txn.Tx) error { return mapErr(fn(tx)) })
}

// emit encodes ev and queues it to be written to the outbox with tx's commit.
func (s *Store) emit(tx *txn.Tx, ev booking.Event) error {
	payload, err := s.opts.Encode(ev)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", ev.Type, err)
	}
	tx.Emit(outbox.Event{Type: ev.Type, Key: ev.Key(), Payload: payload})
	return nil
}

// replayed is returned from a transaction whose idempotency claim found the key
// completed: the transaction rolls back what its batch sent with the claim, and the
// caller answers with the first call's result.
type replayed struct{ result []byte }

func (replayed) Error() string { return "idempotency key replayed" }

// isNoRows reports whether err means a query found no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
