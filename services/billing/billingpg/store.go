package billingpg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
)

// Options configures a Store.
type Options struct {
	// BillEvent builds the payload of an event about bill b (and item it for item events).
	// Required.
	BillEvent func(b billing.Bill, it *billing.Item) proto.Message
	// Notify, when set, is called after a transaction that emitted events commits, to
	// wake the outbox sequencer at once (outbox.Log.Notify).
	Notify func()
}

// Store is billing's storage on PostgreSQL; it implements billing.Store and
// billing.SagaStore, and feeds the read model. Its transactions are kit/txn's, its
// idempotency keys idempotencypg's (the domain builds and checks them).
type Store struct {
	pool *pgxpool.Pool
	tx   *txn.Runner
	keys *idempotencypg.Keys
	opts Options
}

var _ billing.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the billing schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{
		pool: pool,
		tx:   txn.New(pool, txn.Options{Notify: opts.Notify}),
		keys: idempotencypg.New(idempotencypg.Options{}),
		opts: opts,
	}
}

// emit queues the event of type t about b (and its item it, if any) in tx. The bill's
// row is locked (or inserted) in tx before, so events of one bill are logged in commit
// order.
func (s *Store) emit(tx *txn.Tx, t billing.EventType, b billing.Bill, it *billing.Item) {
	tx.Emit(outbox.Event{Type: string(t), Key: b.ID, Payload: s.opts.BillEvent(b, it)})
}

// encode encodes an idempotent call's result for its key.
func encode(rec billing.Recorded) []byte {
	b, _ := json.Marshal(rec) // two strings: cannot fail
	return b
}

// decode decodes the result stored with key k.
func decode(k idempotency.Key, result []byte) (billing.Recorded, error) {
	var rec billing.Recorded
	if err := json.Unmarshal(result, &rec); err != nil {
		return billing.Recorded{}, fmt.Errorf("decode the result of %s %q: %w", k.Method, k.RequestID, err)
	}
	return rec, nil
}

// Recorded implements billing.Store.
func (s *Store) Recorded(ctx context.Context, k idempotency.Key) (billing.Recorded, bool, error) {
	if k.RequestID == "" {
		return billing.Recorded{}, false, nil
	}
	res, found, err := s.keys.Lookup(ctx, s.pool, k)
	if err != nil || !found {
		return billing.Recorded{}, false, err
	}
	rec, err := decode(k, res)
	return rec, err == nil && rec.BillID != "", err
}

const insertBillSQL = `
INSERT INTO bills (id, customer_id, currency_code, status, sub_status, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// CreateBill implements billing.Store. The key is claimed with its result (the new
// bill's id) in one statement, sent with BEGIN.
func (s *Store) CreateBill(ctx context.Context, b billing.Bill, k idempotency.Key) (billing.Bill, error) {
	var out billing.Bill
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		c, err := s.keys.BeginWith(ctx, tx, k, encode(billing.Recorded{BillID: b.ID}))
		if err != nil {
			return err
		}
		if c.Replayed {
			rec, err := decode(k, c.Result)
			if err != nil {
				return err
			}
			out, err = loadBill(ctx, tx, rec.BillID, false)
			return err
		}
		if _, err := tx.Exec(ctx, insertBillSQL, b.ID, b.CustomerID, b.Currency, b.Status.String(), b.SubStatus,
			b.CreateTime, b.UpdateTime, b.Version); err != nil {
			return fmt.Errorf("insert bill: %w", err)
		}
		out = b
		s.emit(tx, billing.EventOpened, b, nil)
		return nil
	})
	return out, err
}

// GetBill implements billing.Store.
func (s *Store) GetBill(ctx context.Context, id string) (billing.Bill, error) {
	bills, err := s.snapshotBills(ctx, billSQL, id)
	if err != nil {
		return billing.Bill{}, err
	}
	if len(bills) == 0 {
		return billing.Bill{}, notFound(id)
	}
	return bills[0], nil
}

// Mutate implements billing.Store: the key's claim goes out with BEGIN, the bill's lock
// with its read, and the change with the bill's read after it.
func (s *Store) Mutate(ctx context.Context, billID string, k idempotency.Key, now time.Time, fn func(b *billing.Bill) (billing.Change, error)) (billing.Bill, billing.Recorded, error) {
	var out billing.Bill
	var rec billing.Recorded
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		var replayed bool
		var err error
		rec, replayed, err = idempotencypg.Do(ctx, s.keys, tx, k, func() (billing.Recorded, error) {
			b, err := loadBill(ctx, tx, billID, true)
			if err != nil {
				return billing.Recorded{}, err
			}
			ch, err := fn(&b)
			if err != nil {
				return billing.Recorded{}, err
			}
			r := billing.Recorded{BillID: b.ID}
			if ch.Added != nil {
				r.ItemID = ch.Added.ID
			}
			if ch.Event == "" {
				out = b
				return r, nil
			}
			b.Version++
			b.UpdateTime = now
			if out, err = s.persist(ctx, tx, b, ch, now); err != nil {
				return billing.Recorded{}, err
			}
			var it *billing.Item
			switch {
			case ch.Added != nil:
				it = findItem(out, ch.Added.ID)
			case ch.Removed != nil:
				it = ch.Removed
			}
			s.emit(tx, ch.Event, out, it)
			return r, nil
		})
		if err != nil || !replayed {
			return err
		}
		out, err = loadBill(ctx, tx, rec.BillID, false)
		return err
	})
	return out, rec, err
}

func findItem(b billing.Bill, id string) *billing.Item {
	for i := range b.Items {
		if b.Items[i].ID == id {
			it := b.Items[i]
			return &it
		}
	}
	return nil
}

const updateBillSQL = `
UPDATE bills SET status = $2, sub_status = $3, update_time = $4, finalize_time = $5, paid_time = $6,
    settle_time = $7, cancel_time = $8, cancel_reason = $9, version = $10, payment_id = $11, saga_id = $12
WHERE id = $1`

const insertItemSQL = `
INSERT INTO bill_items (id, bill_id, position, kind, provider, reservation_id, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

const deleteItemSQL = `DELETE FROM bill_items WHERE id = $1 AND bill_id = $2`

const freezeItemSQL = `UPDATE bill_items SET billed_minor = $2, billed_currency = $3 WHERE id = $1`

const releaseItemsSQL = `UPDATE bill_items SET released = true WHERE bill_id = $1`

// persist writes the bill's row and the item changes ch describes, and reads the bill
// back, in one round trip. A reservation already on another bill is ALREADY_EXISTS
// (RESERVATION_ALREADY_BILLED).
func (s *Store) persist(ctx context.Context, tx *txn.Tx, b billing.Bill, ch billing.Change, now time.Time) (billing.Bill, error) {
	batch := &pgx.Batch{}
	batch.Queue(updateBillSQL, b.ID, b.Status.String(), b.SubStatus, b.UpdateTime,
		nullTime(b.FinalizeTime), nullTime(b.PaidTime), nullTime(b.SettleTime), nullTime(b.CancelTime),
		b.CancelReason, b.Version, b.PaymentID, sagaIDOf(&b))
	if it := ch.Added; it != nil {
		if it.Summary != nil {
			batch.Queue(storeSummarySQL, summaryArgs(*it.Summary, now)...)
		}
		batch.Queue(insertItemSQL, it.ID, b.ID, it.Position, int32(it.Kind), it.Provider, it.ReservationID, it.CreateTime)
	}
	if it := ch.Removed; it != nil {
		batch.Queue(deleteItemSQL, it.ID, b.ID)
	}
	if ch.Froze {
		for _, it := range b.Items {
			batch.Queue(freezeItemSQL, it.ID, it.Billed.Amount, it.Billed.Currency)
		}
	}
	if b.Status == billing.StatusCancelled {
		batch.Queue(releaseItemsSQL, b.ID)
	}
	bills, err := sendPage(ctx, tx, batch, false, billSQL, []any{b.ID})
	if err != nil {
		return billing.Bill{}, constraints.Map(fmt.Errorf("persist bill %s: %w", b.ID, err))
	}
	if len(bills) == 0 {
		return billing.Bill{}, notFound(b.ID)
	}
	return bills[0], nil
}

// CustomerBills implements billing.Store.
func (s *Store) CustomerBills(ctx context.Context, customerID string, statuses []billing.Status) ([]billing.Bill, error) {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = st.String()
	}
	page := `SELECT * FROM bills WHERE customer_id = $1 AND status = ANY($2::text[])`
	return s.snapshotBills(ctx, page, customerID, names)
}

// sagaIDOf is the bill's latest saga id, or NULL.
func sagaIDOf(b *billing.Bill) any {
	if b.Saga == nil {
		return nil
	}
	return b.Saga.ID
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
