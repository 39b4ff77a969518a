package billingpg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/billing/billing"
)

// querier runs queries: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// billsWithItemsSQL wraps a query returning bills rows (as "page") with their items and
// the items' summaries and the bill's latest pay saga (without its progress): one query,
// and so one snapshot, whatever the page size. Missing items and summaries come back as
// zero values (an empty item id means none), so that rows scan without allocating
// pointers. The rows come unordered: loadBills puts the bills and their items in order,
// which costs PostgreSQL about as much as the rest of the query when it sorts the wide
// rows itself.
const billsWithItemsSQL = `
WITH page AS (%s)
SELECT b.id::text, b.customer_id, b.currency_code, b.status, b.sub_status, b.create_time, b.update_time,
       b.finalize_time, b.paid_time, b.settle_time, b.cancel_time, b.cancel_reason, b.version, b.payment_id,
       COALESCE(i.id::text, ''), COALESCE(i.kind, 0), COALESCE(i.provider, ''), COALESCE(i.reservation_id, ''),
       COALESCE(i.position, 0), i.billed_minor, COALESCE(i.billed_currency, ''), i.create_time,
       COALESCE(s.kind, 0), COALESCE(s.customer_id, ''), COALESCE(s.main_status, 0), COALESCE(s.sub_status, ''),
       COALESCE(s.amount_minor, 0), COALESCE(s.currency_code, ''), COALESCE(s.title, ''),
       s.provider_update_time, COALESCE(s.provider_version, 0), s.changed_at,
       COALESCE(ps.id::text, ''), COALESCE(ps.attempt, 0), COALESCE(ps.state, ''), COALESCE(ps.step, ''),
       COALESCE(ps.payment_method_id, ''), COALESCE(ps.amount_minor, 0), COALESCE(ps.currency_code, ''),
       COALESCE(ps.payment_id, ''), COALESCE(ps.failure_code, ''), COALESCE(ps.failure_message, ''), ps.failed_item_ids,
       ps.start_time, ps.update_time, ps.step_time, ps.end_time
FROM page b
LEFT JOIN pay_sagas ps ON ps.id = b.saga_id
LEFT JOIN bill_items i ON i.bill_id = b.id
LEFT JOIN reservation_summaries s ON s.provider = i.provider AND s.reservation_id = i.reservation_id`

// loadBills runs page (a query over bills) and returns its bills with items, most
// recently changed first (ties by id, descending), each bill's items in position order.
// A bill's columns repeat on each of its items' rows: they are decoded from the bill's
// first row only (a page of 40 bills of 9 items decodes 40 bills, not 360).
func loadBills(ctx context.Context, q querier, page string, args ...any) ([]billing.Bill, error) {
	rows, err := q.Query(ctx, fmt.Sprintf(billsWithItemsSQL, page), args...)
	if err != nil {
		return nil, fmt.Errorf("query bills: %w", err)
	}
	return readBills(rows)
}

// readBills reads billsWithItemsSQL's rows and closes them.
func readBills(rows pgx.Rows) ([]billing.Bill, error) {
	defer rows.Close()
	var (
		bills                              []billing.Bill
		b                                  billing.Bill
		status                             string
		fin, paid, settle, cancel          pgtype.Timestamptz
		itemID, provider, resID, billedCur string
		kind, position, sKind, sMain       int32
		billedMinor                        pgtype.Int8
		itemCreate, sUpdate, sChanged      pgtype.Timestamptz
		sCustomer, sSub, sCur, sTitle      string
		sAmount, sVersion                  int64
		sg                                 billing.Saga
		sgState, sgStep                    string
		sgStart, sgUpdate, sgStepT, sgEnd  pgtype.Timestamptz
	)
	// dest holds the scan targets in the query's column order: the bill's, its items'
	// and summaries' (from firstItemCol), its saga's (from firstSagaCol). itemOnly has
	// nil, which pgx skips, in place of the bill's and the saga's.
	dest := []any{&b.ID, &b.CustomerID, &b.Currency, &status, &b.SubStatus, &b.CreateTime, &b.UpdateTime,
		&fin, &paid, &settle, &cancel, &b.CancelReason, &b.Version, &b.PaymentID,
		&itemID, &kind, &provider, &resID, &position, &billedMinor, &billedCur, &itemCreate,
		&sKind, &sCustomer, &sMain, &sSub, &sAmount, &sCur, &sTitle, &sUpdate, &sVersion, &sChanged,
		&sg.ID, &sg.Attempt, &sgState, &sgStep, &sg.PaymentMethodID, &sg.Amount.Minor, &sg.Amount.Currency,
		&sg.PaymentID, &sg.FailureCode, &sg.FailureMessage, &sg.FailedItemIDs, &sgStart, &sgUpdate, &sgStepT, &sgEnd}
	const firstItemCol, firstSagaCol = 14, 32
	itemOnly := make([]any, len(dest))
	copy(itemOnly[firstItemCol:firstSagaCol], dest[firstItemCol:firstSagaCol])
	// The page's items go into one array with their bill's index in bills, sorted and
	// cut per bill after the last row.
	var (
		billIndex = map[string]int{}
		items     []billing.Item
		owners    []int
	)
	for rows.Next() {
		bi, seen := billIndex[string(rows.RawValues()[0])]
		target := dest
		if seen {
			target = itemOnly
		}
		if err := rows.Scan(target...); err != nil {
			return nil, fmt.Errorf("scan bill: %w", err)
		}
		if !seen {
			nb := b
			nb.Status, _ = billing.ParseStatus(status)
			nb.FinalizeTime, nb.PaidTime, nb.SettleTime, nb.CancelTime = tm(fin), tm(paid), tm(settle), tm(cancel)
			nb.CreateTime, nb.UpdateTime = nb.CreateTime.UTC(), nb.UpdateTime.UTC()
			nb.Items = nil
			if sg.ID != "" {
				saga := sg
				saga.BillID = nb.ID
				saga.FailedItemIDs = slices.Clone(sg.FailedItemIDs)
				saga.State, saga.Step = billing.ParseSagaState(sgState), billing.ParseSagaStep(sgStep)
				saga.StartTime, saga.UpdateTime, saga.StepTime, saga.EndTime = tm(sgStart), tm(sgUpdate), tm(sgStepT), tm(sgEnd)
				nb.Saga = &saga
			}
			bi = len(bills)
			billIndex[nb.ID] = bi
			bills = append(bills, nb)
		}
		if itemID == "" {
			continue
		}
		it := billing.Item{ID: itemID, Kind: billing.Kind(kind), Provider: provider, ReservationID: resID,
			Position: int(position), CreateTime: tm(itemCreate)}
		if billedMinor.Valid && billedCur != "" {
			it.Billed = billing.Money{Minor: billedMinor.Int64, Currency: billedCur}
		}
		if sVersion > 0 {
			it.Summary = &billing.Summary{
				Provider: provider, ReservationID: resID, Kind: billing.Kind(sKind), CustomerID: sCustomer,
				MainStatus: billing.MainStatus(sMain), SubStatus: sSub, Title: sTitle,
				UpdateTime: tm(sUpdate), Version: sVersion, ChangeTime: tm(sChanged),
			}
			if sCur != "" {
				it.Summary.Amount = billing.Money{Minor: sAmount, Currency: sCur}
			}
		}
		items = append(items, it)
		owners = append(owners, bi)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read bills: %w", err)
	}
	return inPageOrder(bills, items, owners), nil
}

// inPageOrder sorts bills most recently changed first (ties by id, descending) and gives
// each its items in position order; owners[k] is the index in bills of items[k]'s bill.
func inPageOrder(bills []billing.Bill, items []billing.Item, owners []int) []billing.Bill {
	order := make([]int, len(items))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(x, y int) int {
		return cmp.Or(cmp.Compare(owners[x], owners[y]), cmp.Compare(items[x].Position, items[y].Position))
	})
	sorted := make([]billing.Item, len(items))
	for k, from := range order {
		sorted[k] = items[from]
	}
	for k := 0; k < len(order); {
		bi, end := owners[order[k]], k+1
		for end < len(order) && owners[order[end]] == bi {
			end++
		}
		bills[bi].Items = sorted[k:end:end] // capped: appending copies
		k = end
	}
	slices.SortFunc(bills, func(x, y billing.Bill) int {
		if c := y.UpdateTime.Compare(x.UpdateTime); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	return bills
}

func tm(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

const lockBillSQL = `SELECT 1 FROM bills WHERE id = $1 FOR UPDATE`

// loadBill returns one bill with items, locking its row first when lock is set (in a
// transaction).
func loadBill(ctx context.Context, q querier, id string, lock bool) (billing.Bill, error) {
	if lock {
		var one int
		err := q.QueryRow(ctx, lockBillSQL, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.Bill{}, notFound(id)
		}
		if err != nil {
			return billing.Bill{}, fmt.Errorf("lock bill: %w", err)
		}
	}
	bills, err := loadBills(ctx, q, `SELECT * FROM bills WHERE id = $1`, id)
	if err != nil {
		return billing.Bill{}, err
	}
	if len(bills) == 0 {
		return billing.Bill{}, notFound(id)
	}
	return bills[0], nil
}

func notFound(id string) error {
	return &billing.ReasonError{Kind: billing.ErrNotFound, Reason: billing.ReasonBillNotFound, Message: "bill " + id + " not found"}
}

// ListBills implements billing.Store: the filter becomes one query over bills (served by
// the indexes on update time, per customer and per status) joined with the items.
//
// With onItems set, the page's item references and the page itself are read by two
// queries in one read-only repeatable-read transaction (so from one snapshot: the bills
// returned have exactly the items onItems saw), sent together with the BEGIN and the
// COMMIT as one pipelined batch: one round trip. onItems runs as soon as the references
// have arrived, while PostgreSQL already runs the page's query.
func (s *Store) ListBills(ctx context.Context, f billing.ListFilter, after *billing.PageCursor, limit int, onItems func([]billing.ItemRef)) ([]billing.Bill, error) {
	page, args := pageQuery(f, after, limit)
	if onItems == nil {
		bills, err := loadBills(ctx, s.pool, page, args...)
		return bills, mapError(err)
	}
	bills, err := s.listWithRefs(ctx, page, args, onItems)
	return bills, mapError(err)
}

// listWithRefs is ListBills with onItems: two round trips on one connection, the BEGIN
// sent with the references' query, the COMMIT with the page's. A failure leaves the
// connection in the transaction, and the pool closes such a connection instead of
// reusing it.
func (s *Store) listWithRefs(ctx context.Context, page string, args []any, onItems func([]billing.ItemRef)) ([]billing.Bill, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	var refs []billing.ItemRef
	b := &pgx.Batch{}
	b.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`)
	b.Queue(fmt.Sprintf(itemRefsSQL, page), args...).Query(func(rows pgx.Rows) error {
		var err error
		refs, err = pgx.CollectRows(rows, scanItemRef)
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read item references: %w", err)
	}
	onItems(refs)
	b = &pgx.Batch{}
	b.Queue(fmt.Sprintf(billsWithItemsSQL, page), args...)
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("query bills: %w", err)
	}
	bills, err := readBills(rows)
	if err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return bills, br.Close()
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

// itemRefsSQL wraps a query returning bills rows (as "page") with their items'
// references, in page order.
const itemRefsSQL = `
WITH page AS (%s)
SELECT b.id::text, i.provider, i.reservation_id
FROM page b JOIN bill_items i ON i.bill_id = b.id
ORDER BY b.update_time DESC, b.id DESC, i.position`

func scanItemRef(row pgx.CollectableRow) (billing.ItemRef, error) {
	var r billing.ItemRef
	err := row.Scan(&r.BillID, &r.Provider, &r.ReservationID)
	return r, err
}

// PruneRequests deletes idempotency keys older than olderThan and returns how many.
func (s *Store) PruneRequests(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM requests WHERE create_time < now() - $1::interval`, olderThan)
	if err != nil {
		return 0, mapError(pgxutil.MapError(err))
	}
	return tag.RowsAffected(), nil
}
