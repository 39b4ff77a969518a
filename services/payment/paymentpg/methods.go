package paymentpg

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"

	"github.com/waybill/waybill/services/payment/payment"
)

const methodCols = `id::text, customer_id, processor, processor_token, brand, last4, expiry_month, expiry_year,
	status, create_time, update_time, disable_time, version`

func scanMethod(row pgx.Row) (payment.PaymentMethod, error) {
	var m payment.PaymentMethod
	var brand, status string
	var disabled *time.Time
	err := row.Scan(&m.ID, &m.CustomerID, &m.Processor, &m.Token, &brand, &m.Last4, &m.ExpiryMonth, &m.ExpiryYear,
		&status, &m.CreateTime, &m.UpdateTime, &disabled, &m.Version)
	m.Brand, m.Status = payment.ParseBrand(brand), payment.ParseMethodStatus(status)
	m.CreateTime, m.UpdateTime, m.DisableTime = m.CreateTime.UTC(), m.UpdateTime.UTC(), timeOf(disabled)
	return m, constraints.Map(err)
}

func collectMethods(rows pgx.Rows, err error) ([]payment.PaymentMethod, error) {
	if err != nil {
		return nil, constraints.Map(err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.PaymentMethod, error) { return scanMethod(r) })
	return ms, constraints.Map(err)
}

// InsertMethod inserts a payment method.
func (t *tx) InsertMethod(ctx context.Context, m payment.PaymentMethod) error {
	_, err := t.tx.Exec(ctx, `
INSERT INTO payment_method (id, customer_id, processor, processor_token, brand, last4, expiry_month, expiry_year,
    status, create_time, update_time, disable_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		m.ID, m.CustomerID, m.Processor, m.Token, m.Brand.String(), m.Last4, m.ExpiryMonth, m.ExpiryYear,
		m.Status.String(), m.CreateTime, m.UpdateTime, nullTime(m.DisableTime), m.Version)
	return constraints.Map(err)
}

// GetMethod returns a payment method.
func (r reader) GetMethod(ctx context.Context, id string) (payment.PaymentMethod, error) {
	m, err := scanMethod(r.q.QueryRow(ctx, `SELECT `+methodCols+` FROM payment_method WHERE id = $1`, id))
	return m, missing(err, "payment method", id)
}

// ListMethods returns up to limit methods matching f after the cursor, newest first.
func (r reader) ListMethods(ctx context.Context, f payment.MethodFilter, after *payment.Cursor, limit int) ([]payment.PaymentMethod, error) {
	statuses := make([]string, len(f.Statuses))
	for i, s := range f.Statuses {
		statuses[i] = s.String()
	}
	var afterTime, afterID any
	if after != nil {
		afterTime, afterID = after.Time, after.ID
	}
	return collectMethods(r.q.Query(ctx, `
SELECT `+methodCols+` FROM payment_method
WHERE ($1 = '' OR customer_id = $1)
  AND (cardinality($2::text[]) = 0 OR status = ANY($2))
  AND ($3::timestamptz IS NULL OR (create_time, id) < ($3, $4::uuid))
ORDER BY create_time DESC, id DESC
LIMIT $5`, f.CustomerID, statuses, afterTime, afterID, limit))
}

// DisableMethod disables an active method; a disabled one is returned unchanged.
func (s *Store) DisableMethod(ctx context.Context, id string, now time.Time) (payment.PaymentMethod, error) {
	m, err := scanMethod(s.pool.QueryRow(ctx, `
UPDATE payment_method SET status = 'disabled', disable_time = $2, update_time = $2, version = version + 1
WHERE id = $1 AND status = 'active'
RETURNING `+methodCols, id, now))
	if errors.Is(err, errs.NotFound) {
		return s.GetMethod(ctx, id)
	}
	return m, err
}

// MethodsWithUndeletedTokens returns disabled methods whose token is not deleted yet.
func (s *Store) MethodsWithUndeletedTokens(ctx context.Context, limit int) ([]payment.PaymentMethod, error) {
	return collectMethods(s.pool.Query(ctx, `
SELECT `+methodCols+` FROM payment_method WHERE status = 'disabled' AND NOT token_deleted LIMIT $1`, limit))
}

// MarkTokenDeleted records that a disabled method's token was deleted at the processor.
func (s *Store) MarkTokenDeleted(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE payment_method SET token_deleted = true WHERE id = $1 AND status = 'disabled'`, id)
	return constraints.Map(err)
}
