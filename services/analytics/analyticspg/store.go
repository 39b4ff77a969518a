package analyticspg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analytics"
)

// Options configure a Store.
type Options struct {
	// AlertEvent builds the payload of an alert's events (analyticsgrpc.AlertEvent).
	AlertEvent func(analytics.Alert) proto.Message
	// Notify wakes the outbox's sequencer after a commit that emitted events.
	Notify func()
}

// Store is analytics' storage on a pool whose search_path is its schema.
type Store struct {
	pool *pgxpool.Pool
	tx   *txn.Runner
	opts Options
}

// New returns the storage on pool.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{pool: pool, tx: txn.New(pool, txn.Options{Notify: opts.Notify}), opts: opts}
}

// Apply applies one fact (from sourceevents.Decode) to the rollups in tx, the consumer's
// transaction; nil applies nothing.
func (s *Store) Apply(ctx context.Context, tx *txn.Tx, fact any) error {
	switch f := fact.(type) {
	case nil:
		return nil
	case analytics.Reservation:
		return applyReservation(ctx, tx, f)
	case analytics.Departure:
		return applyDeparture(ctx, tx, f)
	case analytics.Property:
		return applyProperty(ctx, tx, f)
	case analytics.Payment:
		return applyPayment(ctx, tx, f)
	case analytics.Bill:
		return applyBill(ctx, tx, f)
	case analytics.Fare:
		return applyFare(ctx, tx, f)
	case analytics.Trip:
		return applyTrip(ctx, tx, f)
	}
	return fmt.Errorf("analytics: unknown fact %T", fact)
}
