package paymentpg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"

	"github.com/waybill/waybill/services/payment/payment"
)

const paymentCols = `id::text, customer_id, payment_method_id::text, reference, currency, authorized_minor,
	captured_minor, refunded_minor, status, coalesce(resume_status, ''), sub_status, decline_code, failure_message,
	processor, processor_reference, authorization_expire_time, create_time, update_time, settle_time, version,
	coalesce(busy_operation_id::text, ''), coalesce(busy_type, ''), busy_minor, busy_since`

func scanPayment(row pgx.Row) (payment.Payment, error) {
	var p payment.Payment
	var status, resume, busyType string
	var expire, settle, busySince *time.Time
	err := row.Scan(&p.ID, &p.CustomerID, &p.MethodID, &p.Reference, &p.Currency, &p.Authorized,
		&p.Captured, &p.Refunded, &status, &resume, &p.SubStatus, &p.DeclineCode, &p.FailureMessage,
		&p.Processor, &p.ProcessorReference, &expire, &p.CreateTime, &p.UpdateTime, &settle, &p.Version,
		&p.BusyOperationID, &busyType, &p.BusyAmount, &busySince)
	p.Status, p.ResumeStatus = payment.ParseStatus(status), payment.ParseStatus(resume)
	p.BusyType = payment.ParseOperationType(busyType)
	p.AuthorizationExpireTime, p.SettleTime, p.BusySince = timeOf(expire), timeOf(settle), timeOf(busySince)
	p.CreateTime, p.UpdateTime = p.CreateTime.UTC(), p.UpdateTime.UTC()
	return p, constraints.Map(err)
}

func collectPayments(rows pgx.Rows, err error) ([]payment.Payment, error) {
	if err != nil {
		return nil, constraints.Map(err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.Payment, error) { return scanPayment(r) })
	return ps, constraints.Map(err)
}

const operationCols = `id::text, payment_id::text, type, status, amount_minor, currency, request_id,
	processor_reference, decline_code, failure_message, reason, create_time, complete_time,
	coalesce(settlement_id::text, '')`

func scanOperation(row pgx.Row) (payment.Operation, error) {
	var op payment.Operation
	var typ, status string
	var complete *time.Time
	err := row.Scan(&op.ID, &op.PaymentID, &typ, &status, &op.Amount.Amount, &op.Amount.Currency, &op.RequestID,
		&op.ProcessorReference, &op.DeclineCode, &op.FailureMessage, &op.Reason, &op.CreateTime, &complete,
		&op.SettlementID)
	op.Type, op.Status = payment.ParseOperationType(typ), payment.ParseOperationStatus(status)
	op.CreateTime, op.CompleteTime = op.CreateTime.UTC(), timeOf(complete)
	return op, constraints.Map(err)
}

func collectOperations(rows pgx.Rows, err error) ([]payment.Operation, error) {
	if err != nil {
		return nil, constraints.Map(err)
	}
	ops, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.Operation, error) { return scanOperation(r) })
	return ops, constraints.Map(err)
}

// GetPayment returns a payment, with its timeline when asked.
func (r reader) GetPayment(ctx context.Context, id string, timeline bool) (payment.Payment, error) {
	p, err := scanPayment(r.q.QueryRow(ctx, `SELECT `+paymentCols+` FROM payment WHERE id = $1`, id))
	if err != nil || !timeline {
		return p, missing(err, "payment", id)
	}
	ps := []payment.Payment{p}
	if err := r.attachTimelines(ctx, ps); err != nil {
		return payment.Payment{}, err
	}
	return ps[0], nil
}

// attachTimelines reads the operations of every payment in one query.
func (r reader) attachTimelines(ctx context.Context, ps []payment.Payment) error {
	if len(ps) == 0 {
		return nil
	}
	ids := make([]string, len(ps))
	index := make(map[string]int, len(ps))
	for i, p := range ps {
		ids[i], index[p.ID] = p.ID, i
		ps[i].Timeline = []payment.Operation{}
	}
	ops, err := collectOperations(r.q.Query(ctx, `
SELECT `+operationCols+` FROM payment_operation WHERE payment_id = ANY($1::uuid[]) ORDER BY create_time, seq`, ids))
	if err != nil {
		return err
	}
	for _, op := range ops {
		i := index[op.PaymentID]
		ps[i].Timeline = append(ps[i].Timeline, op)
	}
	return nil
}

// ListPayments returns up to limit payments matching f after the cursor, newest first.
func (r reader) ListPayments(ctx context.Context, f payment.PaymentFilter, after *payment.Cursor, limit int, timeline bool) ([]payment.Payment, error) {
	statuses := make([]string, len(f.Statuses))
	for i, s := range f.Statuses {
		statuses[i] = s.String()
	}
	var afterTime, afterID any
	if after != nil {
		afterTime, afterID = after.Time, after.ID
	}
	ps, err := collectPayments(r.q.Query(ctx, `
SELECT `+paymentCols+` FROM payment
WHERE ($1 = '' OR customer_id = $1)
  AND ($2 = '' OR reference = $2)
  AND (cardinality($3::text[]) = 0 OR status = ANY($3))
  AND ($4::timestamptz IS NULL OR (create_time, id) < ($4, $5::uuid))
ORDER BY create_time DESC, id DESC
LIMIT $6`, f.CustomerID, f.Reference, statuses, afterTime, afterID, limit))
	if err != nil || !timeline {
		return ps, err
	}
	return ps, r.attachTimelines(ctx, ps)
}

// GetOperation returns an operation.
func (r reader) GetOperation(ctx context.Context, id string) (payment.Operation, error) {
	op, err := scanOperation(r.q.QueryRow(ctx, `SELECT `+operationCols+` FROM payment_operation WHERE id = $1`, id))
	return op, missing(err, "operation", id)
}

// LockPayment reads a payment and locks its row until the transaction ends.
func (t *tx) LockPayment(ctx context.Context, id string) (payment.Payment, error) {
	p, err := scanPayment(t.tx.QueryRow(ctx, `SELECT `+paymentCols+` FROM payment WHERE id = $1 FOR UPDATE`, id))
	return p, missing(err, "payment", id)
}

func statusOrNull(s payment.Status) any {
	if s == payment.StatusUnspecified {
		return nil
	}
	return s.String()
}

func opTypeOrNull(t payment.OperationType) any {
	if t == payment.OpUnspecified {
		return nil
	}
	return t.String()
}

// InsertPayment inserts a payment.
func (t *tx) InsertPayment(ctx context.Context, p payment.Payment) error {
	_, err := t.tx.Exec(ctx, `
INSERT INTO payment (id, customer_id, payment_method_id, reference, currency, authorized_minor, captured_minor,
    refunded_minor, status, resume_status, sub_status, decline_code, failure_message, processor, processor_reference,
    authorization_expire_time, create_time, update_time, settle_time, version, busy_operation_id, busy_type,
    busy_minor, busy_since)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`,
		p.ID, p.CustomerID, p.MethodID, p.Reference, p.Currency, p.Authorized, p.Captured, p.Refunded,
		p.Status.String(), statusOrNull(p.ResumeStatus), p.SubStatus, p.DeclineCode, p.FailureMessage, p.Processor,
		p.ProcessorReference, nullTime(p.AuthorizationExpireTime), p.CreateTime, p.UpdateTime, nullTime(p.SettleTime),
		p.Version, nullString(p.BusyOperationID), opTypeOrNull(p.BusyType), p.BusyAmount, nullTime(p.BusySince))
	return constraints.Map(err)
}

// UpdatePayment writes every mutable field of a locked payment. The table's constraints
// reject amounts beyond the payment's limits.
func (t *tx) UpdatePayment(ctx context.Context, p payment.Payment) error {
	tag, err := t.tx.Exec(ctx, `
UPDATE payment SET captured_minor = $2, refunded_minor = $3, status = $4, resume_status = $5, sub_status = $6,
    decline_code = $7, failure_message = $8, processor_reference = $9, authorization_expire_time = $10,
    update_time = $11, settle_time = $12, version = $13, busy_operation_id = $14, busy_type = $15,
    busy_minor = $16, busy_since = $17
WHERE id = $1`,
		p.ID, p.Captured, p.Refunded, p.Status.String(), statusOrNull(p.ResumeStatus), p.SubStatus,
		p.DeclineCode, p.FailureMessage, p.ProcessorReference, nullTime(p.AuthorizationExpireTime),
		p.UpdateTime, nullTime(p.SettleTime), p.Version, nullString(p.BusyOperationID), opTypeOrNull(p.BusyType),
		p.BusyAmount, nullTime(p.BusySince))
	if err != nil {
		return constraints.Map(err)
	}
	if tag.RowsAffected() != 1 {
		return errs.Missing("", "payment %s not found", p.ID)
	}
	return nil
}

// InsertOperation inserts an operation.
func (t *tx) InsertOperation(ctx context.Context, op payment.Operation) error {
	_, err := t.tx.Exec(ctx, `
INSERT INTO payment_operation (id, payment_id, type, status, amount_minor, currency, request_id,
    processor_reference, decline_code, failure_message, reason, create_time, complete_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		op.ID, op.PaymentID, op.Type.String(), op.Status.String(), op.Amount.Amount, op.Amount.Currency, op.RequestID,
		op.ProcessorReference, op.DeclineCode, op.FailureMessage, op.Reason, op.CreateTime, nullTime(op.CompleteTime))
	return constraints.Map(err)
}

// UpdateOperation writes an operation's outcome.
func (t *tx) UpdateOperation(ctx context.Context, op payment.Operation) error {
	_, err := t.tx.Exec(ctx, `
UPDATE payment_operation SET status = $2, processor_reference = $3, decline_code = $4, failure_message = $5,
    complete_time = $6
WHERE id = $1`, op.ID, op.Status.String(), op.ProcessorReference, op.DeclineCode, op.FailureMessage, nullTime(op.CompleteTime))
	return constraints.Map(err)
}

// DeleteOperation deletes an operation never sent to the processor.
func (t *tx) DeleteOperation(ctx context.Context, id string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM payment_operation WHERE id = $1 AND status = 'in_progress'`, id)
	return constraints.Map(err)
}

// PaymentsToReconcile returns pending payments and those whose busy operation started before
// staleBefore.
func (s *Store) PaymentsToReconcile(ctx context.Context, staleBefore time.Time, limit int) ([]string, error) {
	return collectIDs(s.pool.Query(ctx, `
SELECT id::text FROM payment
WHERE busy_operation_id IS NOT NULL AND (status = 'pending_reconciliation' OR busy_since < $1)
ORDER BY busy_since
LIMIT $2`, staleBefore, limit))
}

// ExpiredAuthorizations returns capturable payments whose authorization expired at now.
func (s *Store) ExpiredAuthorizations(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return collectIDs(s.pool.Query(ctx, `
SELECT id::text FROM payment
WHERE status IN ('authorized', 'partially_captured') AND busy_operation_id IS NULL
  AND authorization_expire_time <= $1
ORDER BY authorization_expire_time
LIMIT $2`, now, limit))
}

func collectIDs(rows pgx.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, constraints.Map(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, constraints.Map(err)
}
