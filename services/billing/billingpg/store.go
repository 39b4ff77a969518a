package billingpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
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

// Store is billing's storage on PostgreSQL; it implements billing.Store and feeds the
// read model.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

var _ billing.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the billing schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{pool: pool, opts: opts}
}

// Pool returns the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// inTx runs fn in a transaction, retrying serialization failures, maps the error once,
// and wakes the sequencer after a commit that emitted events.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx, emit func(billing.EventType, billing.Bill, *billing.Item) error) error) error {
	emitted := false
	err := pgxutil.InTxOpts(ctx, s.pool, pgxutil.TxOptions{MaxRetries: 3}, func(tx pgx.Tx) error {
		emitted = false
		return fn(tx, func(t billing.EventType, b billing.Bill, it *billing.Item) error {
			emitted = true
			return s.emit(ctx, tx, t, b, it)
		})
	})
	if err != nil {
		return mapError(err)
	}
	if emitted && s.opts.Notify != nil {
		s.opts.Notify()
	}
	return nil
}

// emit writes one event about b to the outbox in tx. The bill's row is locked (or
// inserted) in tx before, so events of one bill are logged in commit order.
func (s *Store) emit(ctx context.Context, tx pgx.Tx, t billing.EventType, b billing.Bill, it *billing.Item) error {
	err := outbox.Emit(ctx, tx, s.event(t, b, it))
	if err != nil {
		return fmt.Errorf("emit %s: %w", t, err)
	}
	return nil
}

// event returns the event of type t about b (and its item it, if any).
func (s *Store) event(t billing.EventType, b billing.Bill, it *billing.Item) outbox.Event {
	return outbox.Event{Type: string(t), Key: b.ID, Payload: s.opts.BillEvent(b, it)}
}

// claimRequestSQL claims an idempotency key. A concurrent claim of the same key waits
// for this transaction and then finds the row.
const claimRequestSQL = `
INSERT INTO requests (method, request_id, fingerprint) VALUES ($1, $2, $3)
ON CONFLICT (method, request_id) DO NOTHING`

const recordedSQL = `SELECT fingerprint, bill_id::text, item_id::text FROM requests WHERE method = $1 AND request_id = $2`

const recordResultSQL = `UPDATE requests SET bill_id = $3, item_id = $4 WHERE method = $1 AND request_id = $2`

// claim claims req's key in tx. It reports false with the recorded result when the key
// was used before.
func claim(ctx context.Context, tx pgx.Tx, req billing.Request) (billing.Recorded, bool, error) {
	tag, err := tx.Exec(ctx, claimRequestSQL, req.Method, req.ID, req.Fingerprint)
	if err != nil {
		return billing.Recorded{}, false, fmt.Errorf("claim request id: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return billing.Recorded{}, true, nil
	}
	rec, ok, err := recorded(ctx, tx, req)
	if err != nil {
		return billing.Recorded{}, false, err
	}
	if !ok || rec.BillID == "" {
		return billing.Recorded{}, false, &billing.ReasonError{Kind: billing.ErrConflict, Reason: billing.ReasonConflict,
			Message: "a call with this request_id is still running; retry"}
	}
	return rec, false, nil
}

// recorded reads req's recorded result.
func recorded(ctx context.Context, q pgx.Tx, req billing.Request) (billing.Recorded, bool, error) {
	var fp string
	var bill, item *string
	err := q.QueryRow(ctx, recordedSQL, req.Method, req.ID).Scan(&fp, &bill, &item)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Recorded{}, false, nil
	}
	if err != nil {
		return billing.Recorded{}, false, fmt.Errorf("read request id: %w", err)
	}
	if fp != req.Fingerprint {
		return billing.Recorded{}, false, billing.Invalid("request_id", "was already used for a different call")
	}
	return billing.Recorded{BillID: deref(bill), ItemID: deref(item)}, true, nil
}

func recordResult(ctx context.Context, tx pgx.Tx, req billing.Request, rec billing.Recorded) error {
	if _, err := tx.Exec(ctx, recordResultSQL, req.Method, req.ID, nullUUID(rec.BillID), nullUUID(rec.ItemID)); err != nil {
		return fmt.Errorf("record request result: %w", err)
	}
	return nil
}

// Recorded implements billing.Store.
func (s *Store) Recorded(ctx context.Context, req billing.Request) (billing.Recorded, bool, error) {
	if req.ID == "" {
		return billing.Recorded{}, false, nil
	}
	var rec billing.Recorded
	var ok bool
	err := pgxutil.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		rec, ok, err = recorded(ctx, tx, req)
		return err
	})
	if err != nil {
		return billing.Recorded{}, false, mapError(err)
	}
	return rec, ok && rec.BillID != "", nil
}

const insertBillSQL = `
INSERT INTO bills (id, customer_id, currency_code, status, sub_status, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// CreateBill implements billing.Store.
func (s *Store) CreateBill(ctx context.Context, b billing.Bill, req billing.Request) (billing.Bill, error) {
	var out billing.Bill
	err := s.inTx(ctx, func(tx pgx.Tx, emit func(billing.EventType, billing.Bill, *billing.Item) error) error {
		if req.ID != "" {
			rec, fresh, err := claim(ctx, tx, req)
			if err != nil {
				return err
			}
			if !fresh {
				out, err = loadBill(ctx, tx, rec.BillID, false)
				return err
			}
		}
		if _, err := tx.Exec(ctx, insertBillSQL, b.ID, b.CustomerID, b.Currency, b.Status.String(), b.SubStatus,
			b.CreateTime, b.UpdateTime, b.Version); err != nil {
			return fmt.Errorf("insert bill: %w", err)
		}
		if req.ID != "" {
			if err := recordResult(ctx, tx, req, billing.Recorded{BillID: b.ID}); err != nil {
				return err
			}
		}
		out = b
		return emit(billing.EventOpened, b, nil)
	})
	return out, err
}

// GetBill implements billing.Store.
func (s *Store) GetBill(ctx context.Context, id string) (billing.Bill, error) {
	b, err := loadBill(ctx, s.pool, id, false)
	return b, mapError(err)
}

// Mutate implements billing.Store.
func (s *Store) Mutate(ctx context.Context, billID string, req billing.Request, now time.Time, fn func(b *billing.Bill) (billing.Change, error)) (billing.Bill, billing.Recorded, error) {
	var out billing.Bill
	var rec billing.Recorded
	err := s.inTx(ctx, func(tx pgx.Tx, emit func(billing.EventType, billing.Bill, *billing.Item) error) error {
		if req.ID != "" {
			r, fresh, err := claim(ctx, tx, req)
			if err != nil {
				return err
			}
			if !fresh {
				rec = r
				out, err = loadBill(ctx, tx, r.BillID, false)
				return err
			}
		}
		b, err := loadBill(ctx, tx, billID, true)
		if err != nil {
			return err
		}
		ch, err := fn(&b)
		if err != nil {
			return err
		}
		rec = billing.Recorded{BillID: b.ID}
		if ch.Added != nil {
			rec.ItemID = ch.Added.ID
		}
		if ch.Event != "" {
			b.Version++
			b.UpdateTime = now
			if err := persist(ctx, tx, &b, ch, now); err != nil {
				return err
			}
			if b, err = loadBill(ctx, tx, billID, false); err != nil {
				return err
			}
			var it *billing.Item
			switch {
			case ch.Added != nil:
				it = findItem(b, ch.Added.ID)
			case ch.Removed != nil:
				it = ch.Removed
			}
			if err := emit(ch.Event, b, it); err != nil {
				return err
			}
		}
		if req.ID != "" {
			if err := recordResult(ctx, tx, req, rec); err != nil {
				return err
			}
		}
		out = b
		return nil
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

// persist writes the bill's row and the item changes ch describes.
func persist(ctx context.Context, tx querier, b *billing.Bill, ch billing.Change, now time.Time) error {
	if _, err := tx.Exec(ctx, updateBillSQL, b.ID, b.Status.String(), b.SubStatus, b.UpdateTime,
		nullTime(b.FinalizeTime), nullTime(b.PaidTime), nullTime(b.SettleTime), nullTime(b.CancelTime),
		b.CancelReason, b.Version, b.PaymentID, sagaIDOf(b)); err != nil {
		return fmt.Errorf("update bill: %w", err)
	}
	if it := ch.Added; it != nil {
		if it.Summary != nil {
			if _, err := tx.Exec(ctx, storeSummarySQL, summaryArgs(*it.Summary, now)...); err != nil {
				return fmt.Errorf("store summary: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, insertItemSQL, it.ID, b.ID, it.Position, int32(it.Kind), it.Provider, it.ReservationID, it.CreateTime); err != nil {
			return fmt.Errorf("insert item: %w", err)
		}
	}
	if it := ch.Removed; it != nil {
		if _, err := tx.Exec(ctx, deleteItemSQL, it.ID, b.ID); err != nil {
			return fmt.Errorf("delete item: %w", err)
		}
	}
	if ch.Froze {
		batch := &pgx.Batch{}
		for _, it := range b.Items {
			batch.Queue(freezeItemSQL, it.ID, it.Billed.Minor, it.Billed.Currency)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("freeze items: %w", err)
		}
	}
	if b.Status == billing.StatusCancelled {
		if _, err := tx.Exec(ctx, releaseItemsSQL, b.ID); err != nil {
			return fmt.Errorf("release items: %w", err)
		}
	}
	return nil
}

// CustomerBills implements billing.Store.
func (s *Store) CustomerBills(ctx context.Context, customerID string, statuses []billing.Status) ([]billing.Bill, error) {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = st.String()
	}
	page := `SELECT * FROM bills WHERE customer_id = $1 AND status = ANY($2::text[])`
	bills, err := loadBills(ctx, s.pool, page, customerID, names)
	return bills, mapError(err)
}

// sagaIDOf is the bill's latest saga id, or NULL.
func sagaIDOf(b *billing.Bill) any {
	if b.Saga == nil {
		return nil
	}
	return b.Saga.ID
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nullUUID(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
