package billingpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
)

// RidesIn returns the storage billing.BillRideFare needs, bound to tx: the transaction
// of the consumer of fare's events, whose cursor commits with the ride's bill.
func (s *Store) RidesIn(tx *txn.Tx) billing.RideTx { return rideTx{s: s, tx: tx} }

type rideTx struct {
	s  *Store
	tx *txn.Tx
}

// activeBillSQL finds the bill, not cancelled, holding a reservation (at most one, by
// bill_items_active_reservation).
const activeBillSQL = `SELECT bill_id::text FROM bill_items WHERE provider = $1 AND reservation_id = $2 AND NOT released`

// ActiveBill implements billing.RideTx.
func (r rideTx) ActiveBill(ctx context.Context, provider, reservationID string) (string, bool, error) {
	var id string
	err := r.tx.QueryRow(ctx, activeBillSQL, provider, reservationID).Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("find the bill of %s %s: %w", provider, reservationID, err)
	}
	return id, true, nil
}

const insertRideBillSQL = `
INSERT INTO bills (id, customer_id, currency_code, status, sub_status, create_time, update_time, finalize_time, version)
VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8)`

// insertCollectionSQL queues the ride bill for collection (billing.CollectRides).
const insertCollectionSQL = `INSERT INTO ride_collections (bill_id, customer_id, next_attempt_at) VALUES ($1, $2, $3)`

// InsertRideBill implements billing.RideTx: the bill, the ride's summary, the item, its
// frozen amount and its collection in one round trip with the bill's read-back, then the
// events.
func (r rideTx) InsertRideBill(ctx context.Context, b billing.Bill) error {
	batch := &pgx.Batch{}
	batch.Queue(insertRideBillSQL, b.ID, b.CustomerID, b.Currency, b.Status.String(), b.CreateTime, b.UpdateTime,
		nullTime(b.FinalizeTime), b.Version)
	for _, it := range b.Items {
		if it.Summary != nil {
			batch.Queue(storeSummarySQL, summaryArgs(*it.Summary, b.UpdateTime)...)
		}
		batch.Queue(insertItemSQL, it.ID, b.ID, it.Position, int32(it.Kind), it.Provider, it.ReservationID, it.CreateTime)
		batch.Queue(freezeItemSQL, it.ID, it.Billed.Amount, it.Billed.Currency)
	}
	batch.Queue(insertCollectionSQL, b.ID, b.CustomerID, b.CreateTime)
	bills, err := sendPage(ctx, r.tx, batch, false, billSQL, []any{b.ID})
	if err != nil {
		return constraints.Map(fmt.Errorf("insert ride bill %s: %w", b.ID, err))
	}
	if len(bills) == 0 {
		return notFound(b.ID)
	}
	out := bills[0]
	r.s.emit(r.tx, billing.EventOpened, out, nil)
	r.s.emit(r.tx, billing.EventFinalized, out, nil)
	return nil
}

// DueCollections implements billing.Collections.
func (s *Store) DueCollections(ctx context.Context, now time.Time, limit int) ([]billing.Collection, error) {
	rows, err := s.pool.Query(ctx, `SELECT bill_id::text, customer_id, attempts FROM ride_collections
WHERE NOT done AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("list ride collections: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Collection, error) {
		var c billing.Collection
		return c, r.Scan(&c.BillID, &c.CustomerID, &c.Attempts)
	})
	return out, pgxutil.MapError(err)
}

// FinishCollection implements billing.Collections.
func (s *Store) FinishCollection(ctx context.Context, billID string, done bool, why string, next time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE ride_collections SET done = $2, last_error = $3, next_attempt_at = $4,
	attempts = attempts + CASE WHEN $2 THEN 0 ELSE 1 END WHERE bill_id = $1`, billID, done, why, next)
	if err != nil {
		return pgxutil.MapError(fmt.Errorf("record ride collection of bill %s: %w", billID, err))
	}
	return nil
}
