package paymentpg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/services/payment/payment"
)

const settlementCols = `id::text, settlement_date, status, payment_count, processor_reference, failure_message,
	request_id, create_time, update_time, complete_time, version`

func scanSettlement(row pgx.Row) (payment.Settlement, error) {
	var st payment.Settlement
	var date time.Time
	var status string
	var complete *time.Time
	err := row.Scan(&st.ID, &date, &status, &st.PaymentCount, &st.ProcessorReference, &st.FailureMessage,
		&st.RequestID, &st.CreateTime, &st.UpdateTime, &complete, &st.Version)
	st.Date, st.Status = payment.DateOf(date), payment.ParseSettlementStatus(status)
	st.CreateTime, st.UpdateTime, st.CompleteTime = st.CreateTime.UTC(), st.UpdateTime.UTC(), timeOf(complete)
	return st, constraints.Map(err)
}

// attachTotals reads the totals of every settlement in one query.
func (r reader) attachTotals(ctx context.Context, sts []payment.Settlement) error {
	if len(sts) == 0 {
		return nil
	}
	ids := make([]string, len(sts))
	index := make(map[string]int, len(sts))
	for i, st := range sts {
		ids[i], index[st.ID] = st.ID, i
		sts[i].Totals = []payment.SettlementTotal{}
	}
	rows, err := r.q.Query(ctx, `
SELECT settlement_id::text, currency, captured_minor, refunded_minor, capture_count, refund_count
FROM settlement_total WHERE settlement_id = ANY($1::uuid[]) ORDER BY currency`, ids)
	if err != nil {
		return constraints.Map(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t payment.SettlementTotal
		if err := rows.Scan(&id, &t.Currency, &t.Captured, &t.Refunded, &t.CaptureCount, &t.RefundCount); err != nil {
			return constraints.Map(err)
		}
		i := index[id]
		sts[i].Totals = append(sts[i].Totals, t)
	}
	return constraints.Map(rows.Err())
}

func (r reader) settlementWhere(ctx context.Context, where string, args ...any) (payment.Settlement, error) {
	st, err := scanSettlement(r.q.QueryRow(ctx, `SELECT `+settlementCols+` FROM settlement WHERE `+where, args...))
	if err != nil {
		return st, err
	}
	sts := []payment.Settlement{st}
	if err := r.attachTotals(ctx, sts); err != nil {
		return payment.Settlement{}, err
	}
	return sts[0], nil
}

// GetSettlement returns a settlement with its totals.
func (r reader) GetSettlement(ctx context.Context, id string) (payment.Settlement, error) {
	st, err := r.settlementWhere(ctx, `id = $1`, id)
	return st, missing(err, "settlement", id)
}

// GetSettlementByRequestID returns the settlement a request id started.
func (r reader) GetSettlementByRequestID(ctx context.Context, requestID string) (payment.Settlement, error) {
	st, err := r.settlementWhere(ctx, `request_id = $1`, requestID)
	return st, missing(err, "settlement of request", requestID)
}

// ListSettlements returns up to limit settlements matching f after the cursor, latest first.
func (r reader) ListSettlements(ctx context.Context, f payment.SettlementFilter, after *payment.SettlementCursor, limit int) ([]payment.Settlement, error) {
	statuses := make([]string, len(f.Statuses))
	for i, s := range f.Statuses {
		statuses[i] = s.String()
	}
	var start, end, afterDate, afterTime, afterID any
	if f.Start != nil {
		start = f.Start.Time()
	}
	if f.End != nil {
		end = f.End.Time()
	}
	if after != nil {
		afterDate, afterTime, afterID = after.Date.Time(), after.CreateTime, after.ID
	}
	rows, err := r.q.Query(ctx, `
SELECT `+settlementCols+` FROM settlement
WHERE ($1::date IS NULL OR settlement_date >= $1)
  AND ($2::date IS NULL OR settlement_date <= $2)
  AND (cardinality($3::text[]) = 0 OR status = ANY($3))
  AND ($4::date IS NULL OR (settlement_date, create_time, id) < ($4, $5::timestamptz, $6::uuid))
ORDER BY settlement_date DESC, create_time DESC, id DESC
LIMIT $7`, start, end, statuses, afterDate, afterTime, afterID, limit)
	if err != nil {
		return nil, constraints.Map(err)
	}
	sts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.Settlement, error) { return scanSettlement(r) })
	if err != nil {
		return nil, constraints.Map(err)
	}
	return sts, r.attachTotals(ctx, sts)
}

// InsertSettlement inserts a settlement; a date with a live settlement, or a used request id,
// is errs.AlreadyExists with the reason the constraints table gives.
func (t *tx) InsertSettlement(ctx context.Context, st payment.Settlement) error {
	_, err := t.tx.Exec(ctx, `
INSERT INTO settlement (id, settlement_date, status, payment_count, request_id, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		st.ID, st.Date.Time(), st.Status.String(), st.PaymentCount, st.RequestID, st.CreateTime, st.UpdateTime, st.Version)
	return constraints.Map(err)
}

// LockSettlement reads a settlement and locks it.
func (t *tx) LockSettlement(ctx context.Context, id string) (payment.Settlement, error) {
	st, err := t.settlementWhere(ctx, `id = $1 FOR UPDATE`, id)
	return st, missing(err, "settlement", id)
}

// UpdateSettlement writes a settlement's status, counts and totals.
func (t *tx) UpdateSettlement(ctx context.Context, st payment.Settlement) error {
	_, err := t.tx.Exec(ctx, `
UPDATE settlement SET status = $2, payment_count = $3, processor_reference = $4, failure_message = $5,
    update_time = $6, complete_time = $7, version = $8
WHERE id = $1`, st.ID, st.Status.String(), st.PaymentCount, st.ProcessorReference, st.FailureMessage,
		st.UpdateTime, nullTime(st.CompleteTime), st.Version)
	if err != nil {
		return constraints.Map(err)
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM settlement_total WHERE settlement_id = $1`, st.ID); err != nil {
		return constraints.Map(err)
	}
	for _, tot := range st.Totals {
		_, err := t.tx.Exec(ctx, `
INSERT INTO settlement_total (settlement_id, currency, captured_minor, refunded_minor, capture_count, refund_count)
VALUES ($1, $2, $3, $4, $5, $6)`, st.ID, tot.Currency, tot.Captured, tot.Refunded, tot.CaptureCount, tot.RefundCount)
		if err != nil {
			return constraints.Map(err)
		}
	}
	return nil
}

// ClaimOperations assigns the unsettled successful captures and refunds completed before
// before to the settlement. Rows a concurrent settlement claimed are skipped by the
// settlement_id IS NULL condition, rechecked after their lock is released.
func (t *tx) ClaimOperations(ctx context.Context, settlementID string, before time.Time) ([]payment.Operation, error) {
	return collectOperations(t.tx.Query(ctx, `
UPDATE payment_operation SET settlement_id = $1
WHERE settlement_id IS NULL AND status = 'succeeded' AND type IN ('capture', 'refund') AND complete_time < $2
RETURNING `+operationCols, settlementID, before))
}

// ReleaseOperations unassigns a failed settlement's operations.
func (t *tx) ReleaseOperations(ctx context.Context, settlementID string) error {
	_, err := t.tx.Exec(ctx, `UPDATE payment_operation SET settlement_id = NULL WHERE settlement_id = $1`, settlementID)
	return constraints.Map(err)
}

// MarkSettled updates every payment with an operation in the settlement: its settle time is
// set once all its successful captures are in completed settlements, and its version bumps.
func (t *tx) MarkSettled(ctx context.Context, settlementID string, now time.Time) ([]payment.Payment, error) {
	return collectPayments(t.tx.Query(ctx, `
WITH involved AS (SELECT DISTINCT payment_id FROM payment_operation WHERE settlement_id = $1)
UPDATE payment p SET
    settle_time = CASE WHEN NOT EXISTS (
            SELECT 1 FROM payment_operation o LEFT JOIN settlement s ON s.id = o.settlement_id
            WHERE o.payment_id = p.id AND o.type = 'capture' AND o.status = 'succeeded'
              AND (s.id IS NULL OR s.status <> 'completed'))
        THEN coalesce(p.settle_time, $2) END,
    version = p.version + 1, update_time = $2
FROM involved WHERE p.id = involved.payment_id
RETURNING `+paymentCols, settlementID, now)) // involved has no column of these names
}
