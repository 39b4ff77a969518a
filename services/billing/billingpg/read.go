package billingpg

import (
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
// the items' summaries and the bill's latest pay saga (without its progress), in the
// panel's order: one query, and so one snapshot, whatever the page size. Missing
// items and summaries come back as zero values (an item id of ” means none), so that
// rows scan without allocating pointers.
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
LEFT JOIN reservation_summaries s ON s.provider = i.provider AND s.reservation_id = i.reservation_id
ORDER BY b.update_time DESC, b.id DESC, i.position`

// loadBills runs page (a query over bills) and returns its bills with items, in the
// panel's order. A bill's columns repeat on each of its items' rows: they are decoded
// from the bill's first row only (a page of 40 bills of 9 items decodes 40 bills, not
// 360).
func loadBills(ctx context.Context, q querier, page string, args ...any) ([]billing.Bill, error) {
	rows, err := q.Query(ctx, fmt.Sprintf(billsWithItemsSQL, page), args...)
	if err != nil {
		return nil, fmt.Errorf("query bills: %w", err)
	}
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
	// The page's items go into one array, cut per bill after the last row: bill i's
	// items end at ends[i].
	var (
		items []billing.Item
		ends  []int
	)
	for rows.Next() {
		n := len(bills)
		same := n > 0 && string(rows.RawValues()[0]) == bills[n-1].ID
		target := dest
		if same {
			target = itemOnly
		}
		if err := rows.Scan(target...); err != nil {
			return nil, fmt.Errorf("scan bill: %w", err)
		}
		if !same {
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
			bills = append(bills, nb)
			ends = append(ends, len(items))
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
		ends[len(bills)-1] = len(items)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read bills: %w", err)
	}
	start := 0
	for i := range bills {
		if ends[i] > start {
			bills[i].Items = items[start:ends[i]:ends[i]] // capped: appending copies
		}
		start = ends[i]
	}
	return bills, nil
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
func (s *Store) ListBills(ctx context.Context, f billing.ListFilter, after *billing.PageCursor, limit int) ([]billing.Bill, error) {
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
	bills, err := loadBills(ctx, s.pool, page, args...)
	return bills, mapError(err)
}

// PruneRequests deletes idempotency keys older than olderThan and returns how many.
func (s *Store) PruneRequests(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM requests WHERE create_time < now() - $1::interval`, olderThan)
	if err != nil {
		return 0, mapError(pgxutil.MapError(err))
	}
	return tag.RowsAffected(), nil
}
