package billingpg

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
)

// A page of bills is read by two queries over the same query selecting bills (a
// "page"): billsSQL returns the bills with their latest pay saga (without its progress),
// itemsSQL returns their items with billing's summaries of the items' reservations.
// Narrow rows, and no sort of the items in SQL: a single join repeating the bill's and
// the saga's 33 columns on each of its items' rows, sorted by PostgreSQL, cost twice as
// much. Missing sagas and summaries come back as zero values, so that rows scan without
// allocating pointers.
const (
	billsSQL = `
WITH page AS (%s)
SELECT b.id::text, b.customer_id, b.currency_code, b.status, b.sub_status, b.create_time, b.update_time,
       b.finalize_time, b.paid_time, b.settle_time, b.cancel_time, b.cancel_reason, b.version, b.payment_id,
       COALESCE(ps.id::text, ''), COALESCE(ps.attempt, 0), COALESCE(ps.state, ''), COALESCE(ps.step, ''),
       COALESCE(ps.payment_method_id, ''), COALESCE(ps.amount_minor, 0), COALESCE(ps.currency_code, ''),
       COALESCE(ps.payment_id, ''), COALESCE(ps.failure_code, ''), COALESCE(ps.failure_message, ''), ps.failed_item_ids,
       ps.start_time, ps.update_time, ps.step_time, ps.end_time
FROM page b
LEFT JOIN pay_sagas ps ON ps.id = b.saga_id
ORDER BY b.update_time DESC, b.id DESC`

	// itemsSQL's first column is the index of the item's bill in billsSQL's order.
	itemsSQL = `
WITH page AS (%s),
ranked AS (SELECT id, row_number() OVER (ORDER BY update_time DESC, id DESC) - 1 AS bill FROM page)
SELECT b.bill, i.id::text, i.kind, i.provider, i.reservation_id, i.position, i.billed_minor,
       COALESCE(i.billed_currency, ''), i.create_time,
       COALESCE(s.kind, 0), COALESCE(s.customer_id, ''), COALESCE(s.main_status, 0), COALESCE(s.sub_status, ''),
       COALESCE(s.amount_minor, 0), COALESCE(s.currency_code, ''), COALESCE(s.title, ''),
       s.provider_update_time, COALESCE(s.provider_version, 0), s.changed_at
FROM ranked b
JOIN bill_items i ON i.bill_id = b.id
LEFT JOIN reservation_summaries s ON s.provider = i.provider AND s.reservation_id = i.reservation_id`

	// beginSnapshotSQL starts the transaction that gives a pool's two queries one
	// snapshot.
	beginSnapshotSQL = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
)

// snapshotBills returns the bills page selects (a query over bills) with their items,
// most recently changed first (ties by id, descending), each bill's items in position
// order, read on the pool: the two queries are sent between a BEGIN of a read-only
// repeatable-read transaction and its COMMIT, in one round trip, so that they see one
// snapshot. (A batch that fails leaves the connection in the transaction, and
// the pool closes such a connection instead of reusing it.) Errors are mapped.
func (s *Store) snapshotBills(ctx context.Context, page string, args ...any) ([]billing.Bill, error) {
	b := &pgx.Batch{}
	b.Queue(beginSnapshotSQL)
	bills, err := sendPage(ctx, s.pool, b, true, page, args)
	return bills, pgxutil.MapError(err)
}

// sendPage queues page's two queries onto b, after what b holds, and COMMIT when commit
// is set; sends b on q as one batch; and returns the bills with their items.
func sendPage(ctx context.Context, q txn.Querier, b *pgx.Batch, commit bool, page string, args []any) ([]billing.Bill, error) {
	var (
		items []rankedItem
		bills []billing.Bill
	)
	queueItems(b, page, args, &items)
	queueBills(b, page, args, &bills)
	if commit {
		b.Queue(`COMMIT`)
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read bills: %w", err)
	}
	return withItems(bills, items), nil
}

// queueItems queues itemsSQL over page on b, to read its rows into *items.
func queueItems(b *pgx.Batch, page string, args []any, items *[]rankedItem) {
	b.Queue(fmt.Sprintf(itemsSQL, page), args...).Query(func(rows pgx.Rows) (err error) {
		*items, err = readItems(rows)
		return err
	})
}

// queueBills queues billsSQL over page on b, to read its rows into *bills.
func queueBills(b *pgx.Batch, page string, args []any, bills *[]billing.Bill) {
	b.Queue(fmt.Sprintf(billsSQL, page), args...).Query(func(rows pgx.Rows) (err error) {
		*bills, err = readBills(rows)
		return err
	})
}

// rankedItem is an item and the index of its bill in the page.
type rankedItem struct {
	bill int
	item billing.Item
}

// readItems reads itemsSQL's rows.
func readItems(rows pgx.Rows) ([]rankedItem, error) {
	defer rows.Close()
	var (
		out                              []rankedItem
		bill                             int64
		it                               billing.Item
		kind, position, sKind, sMain     int32
		billedMinor                      pgtype.Int8
		billedCur, sCustomer, sSub, sCur string
		sTitle                           string
		itemCreate, sUpdate, sChanged    pgtype.Timestamptz
		sAmount, sVersion                int64
		providers                        = map[string]string{}
		provider                         string
	)
	dest := []any{&bill, &it.ID, &kind, nil, &it.ReservationID, &position, &billedMinor, &billedCur, &itemCreate,
		&sKind, &sCustomer, &sMain, &sSub, &sAmount, &sCur, &sTitle, &sUpdate, &sVersion, &sChanged}
	const providerCol = 3
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan item: %w", err)
		}
		// A page names a handful of providers on hundreds of rows: one string each.
		raw := rows.RawValues()[providerCol]
		if provider = providers[string(raw)]; provider == "" {
			provider = string(raw)
			providers[provider] = provider
		}
		x := rankedItem{bill: int(bill), item: billing.Item{ID: it.ID, Kind: billing.Kind(kind), Provider: provider,
			ReservationID: it.ReservationID, Position: int(position), CreateTime: tm(itemCreate)}}
		if billedMinor.Valid && billedCur != "" {
			x.item.Billed = money.Money{Amount: billedMinor.Int64, Currency: billedCur}
		}
		if sVersion > 0 {
			x.item.Summary = &billing.Summary{
				Provider: provider, ReservationID: it.ReservationID, Kind: billing.Kind(sKind), CustomerID: sCustomer,
				MainStatus: billing.MainStatus(sMain), SubStatus: sSub, Title: sTitle,
				UpdateTime: tm(sUpdate), Version: sVersion, ChangeTime: tm(sChanged),
			}
			if sCur != "" {
				x.item.Summary.Amount = money.Money{Amount: sAmount, Currency: sCur}
			}
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	return out, nil
}

// readBills reads billsSQL's rows.
func readBills(rows pgx.Rows) ([]billing.Bill, error) {
	defer rows.Close()
	var (
		bills                             []billing.Bill
		b                                 billing.Bill
		status                            string
		fin, paid, settle, cancel         pgtype.Timestamptz
		sg                                billing.Saga
		sgState, sgStep                   string
		sgStart, sgUpdate, sgStepT, sgEnd pgtype.Timestamptz
	)
	dest := []any{&b.ID, &b.CustomerID, &b.Currency, &status, &b.SubStatus, &b.CreateTime, &b.UpdateTime,
		&fin, &paid, &settle, &cancel, &b.CancelReason, &b.Version, &b.PaymentID,
		&sg.ID, &sg.Attempt, &sgState, &sgStep, &sg.PaymentMethodID, &sg.Amount.Amount, &sg.Amount.Currency,
		&sg.PaymentID, &sg.FailureCode, &sg.FailureMessage, &sg.FailedItemIDs, &sgStart, &sgUpdate, &sgStepT, &sgEnd}
	for rows.Next() {
		sg.FailedItemIDs = nil
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan bill: %w", err)
		}
		nb := b
		nb.Status, _ = billing.ParseStatus(status)
		nb.FinalizeTime, nb.PaidTime, nb.SettleTime, nb.CancelTime = tm(fin), tm(paid), tm(settle), tm(cancel)
		nb.CreateTime, nb.UpdateTime = nb.CreateTime.UTC(), nb.UpdateTime.UTC()
		if sg.ID != "" {
			saga := sg
			saga.BillID = nb.ID
			saga.State, saga.Step = billing.ParseSagaState(sgState), billing.ParseSagaStep(sgStep)
			saga.StartTime, saga.UpdateTime, saga.StepTime, saga.EndTime = tm(sgStart), tm(sgUpdate), tm(sgStepT), tm(sgEnd)
			nb.Saga = &saga
		}
		bills = append(bills, nb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read bills: %w", err)
	}
	return bills, nil
}

// withItems gives each bill its items (of the same page and snapshot) in position
// order. Items of a bill index the page does not have (none, from one snapshot) are
// dropped.
func withItems(bills []billing.Bill, items []rankedItem) []billing.Bill {
	slices.SortFunc(items, func(x, y rankedItem) int {
		return cmp.Or(cmp.Compare(x.bill, y.bill), cmp.Compare(x.item.Position, y.item.Position))
	})
	all := make([]billing.Item, len(items))
	for k, x := range items {
		all[k] = x.item
	}
	for k := 0; k < len(items); {
		bi, end := items[k].bill, k+1
		for end < len(items) && items[end].bill == bi {
			end++
		}
		if bi >= 0 && bi < len(bills) {
			bills[bi].Items = all[k:end:end] // capped: appending copies
		}
		k = end
	}
	return bills
}

func tm(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// lockBillSQL locks a bill's row: every writer of a bill locks it first, so that the
// bill's events are logged in commit order.
const lockBillSQL = `SELECT 1 FROM bills WHERE id = $1 FOR UPDATE`

// billSQL is the page of one bill.
const billSQL = `SELECT * FROM bills WHERE id = $1`

// loadBill returns one bill with items, read in tx; with lock set, its row is locked
// first, in the same round trip. A missing bill is NOT_FOUND (BILL_NOT_FOUND).
func loadBill(ctx context.Context, tx *txn.Tx, id string, lock bool) (billing.Bill, error) {
	b := &pgx.Batch{}
	if lock {
		b.Queue(lockBillSQL, id)
	}
	bills, err := sendPage(ctx, tx, b, false, billSQL, []any{id})
	if err != nil {
		return billing.Bill{}, err
	}
	if len(bills) == 0 {
		return billing.Bill{}, notFound(id)
	}
	return bills[0], nil
}

func notFound(id string) error {
	return errs.Missing(billing.ReasonBillNotFound, "bill %s not found", id)
}

// ListBills implements billing.Store: the filter becomes one query over bills (served by
// the indexes on update time, per customer and per status), whose bills and items are
// read as snapshotBills does.
//
// With onItems set, the items are read first, handed to onItems, and then the bills:
// two round trips on one connection, the BEGIN sent with the items' query and the
// COMMIT with the bills', so that the caller can call the providers while the bills are
// read.
func (s *Store) ListBills(ctx context.Context, f billing.ListFilter, after *billing.PageCursor, limit int, onItems func([]billing.ItemRef)) ([]billing.Bill, error) {
	page, args := pageQuery(f, after, limit)
	if onItems == nil {
		return s.snapshotBills(ctx, page, args...)
	}
	bills, err := s.listItemsFirst(ctx, page, args, onItems)
	return bills, pgxutil.MapError(err)
}

// listItemsFirst is ListBills with onItems. A failure leaves the connection in the
// transaction, and the pool closes such a connection instead of reusing it.
func (s *Store) listItemsFirst(ctx context.Context, page string, args []any, onItems func([]billing.ItemRef)) ([]billing.Bill, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	var items []rankedItem
	b := &pgx.Batch{}
	b.Queue(beginSnapshotSQL)
	queueItems(b, page, args, &items)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	refs := make([]billing.ItemRef, len(items))
	for i, x := range items {
		refs[i] = billing.ItemRef{Bill: x.bill, Provider: x.item.Provider, ReservationID: x.item.ReservationID}
		if x.item.Summary != nil {
			refs[i].Version = x.item.Summary.Version
		}
	}
	onItems(refs)
	var bills []billing.Bill
	b = &pgx.Batch{}
	queueBills(b, page, args, &bills)
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read bills: %w", err)
	}
	return withItems(bills, items), nil
}

// pageQuery is the query over bills selecting a page of f after the cursor, and its
// arguments.
func pageQuery(f billing.ListFilter, after *billing.PageCursor, limit int) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.Statuses) > 0 {
		names := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			names[i] = st.String()
		}
		where = append(where, "status = ANY("+arg(names)+"::text[])")
	}
	if f.CustomerID != "" {
		where = append(where, "customer_id = "+arg(f.CustomerID))
	}
	if !f.ChangedSince.IsZero() {
		where = append(where, "update_time >= "+arg(f.ChangedSince))
	}
	if after != nil {
		where = append(where, fmt.Sprintf("(update_time, id) < (%s, %s::uuid)", arg(after.UpdateTime), arg(after.ID)))
	}
	page := "SELECT * FROM bills"
	if len(where) > 0 {
		page += " WHERE " + strings.Join(where, " AND ")
	}
	page += " ORDER BY update_time DESC, id DESC LIMIT " + arg(limit)
	return page, args
}
