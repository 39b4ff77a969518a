package billingpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
)

var _ billing.SagaStore = (*Store)(nil)

const sagaColumns = `id::text, bill_id::text, attempt, state, step, payment_method_id, amount_minor, currency_code,
    payment_id, failure_code, failure_message, failed_item_ids, progress, start_time, update_time, step_time, end_time`

// scanSaga reads one row of sagaColumns.
func scanSaga(row pgx.CollectableRow) (billing.Saga, error) {
	var s billing.Saga
	var state, step string
	var progress []byte
	var end pgtype.Timestamptz
	if err := row.Scan(&s.ID, &s.BillID, &s.Attempt, &state, &step, &s.PaymentMethodID, &s.Amount.Amount, &s.Amount.Currency,
		&s.PaymentID, &s.FailureCode, &s.FailureMessage, &s.FailedItemIDs, &progress, &s.StartTime, &s.UpdateTime,
		&s.StepTime, &end); err != nil {
		return billing.Saga{}, fmt.Errorf("scan saga: %w", err)
	}
	s.State, s.Step = billing.ParseSagaState(state), billing.ParseSagaStep(step)
	s.StartTime, s.UpdateTime, s.StepTime, s.EndTime = s.StartTime.UTC(), s.UpdateTime.UTC(), s.StepTime.UTC(), tm(end)
	if err := json.Unmarshal(progress, &s.Progress); err != nil {
		return billing.Saga{}, fmt.Errorf("decode saga progress: %w", err)
	}
	return s, nil
}

const insertSagaSQL = `
INSERT INTO pay_sagas (id, bill_id, attempt, state, step, payment_method_id, amount_minor, currency_code, payment_id,
    failure_code, failure_message, failed_item_ids, progress, start_time, update_time, step_time, end_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

// StartPayment implements billing.SagaStore.
func (s *Store) StartPayment(ctx context.Context, billID string, k idempotency.Key, now time.Time, fn func(b *billing.Bill) (billing.Saga, billing.Change, error)) (billing.Bill, error) {
	var out billing.Bill
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		rec, replayed, err := idempotencypg.Do(ctx, s.keys, tx, k, func() (billing.Recorded, error) {
			b, err := loadBill(ctx, tx, billID, true)
			if err != nil {
				return billing.Recorded{}, err
			}
			sg, ch, err := fn(&b)
			if err != nil {
				return billing.Recorded{}, err
			}
			progress, err := json.Marshal(sg.Progress)
			if err != nil {
				return billing.Recorded{}, fmt.Errorf("encode saga progress: %w", err)
			}
			if _, err := tx.Exec(ctx, insertSagaSQL, sg.ID, sg.BillID, sg.Attempt, sg.State.String(), sg.Step.String(),
				sg.PaymentMethodID, sg.Amount.Amount, sg.Amount.Currency, sg.PaymentID, sg.FailureCode, sg.FailureMessage,
				nonNil(sg.FailedItemIDs), progress, sg.StartTime, sg.UpdateTime, sg.StepTime, nullTime(sg.EndTime)); err != nil {
				return billing.Recorded{}, fmt.Errorf("insert saga: %w", err)
			}
			if out, err = s.applyChange(ctx, tx, b, ch, now); err != nil {
				return billing.Recorded{}, err
			}
			return billing.Recorded{BillID: b.ID}, nil
		})
		if err != nil || !replayed {
			return err
		}
		out, err = loadBill(ctx, tx, rec.BillID, false)
		return err
	})
	return out, err
}

// applyChange persists the bill's change with a new version and emits its event; a
// change that is neither an event nor Touched writes nothing. It returns the bill as
// stored.
func (s *Store) applyChange(ctx context.Context, tx *txn.Tx, b billing.Bill, ch billing.Change, now time.Time) (billing.Bill, error) {
	if ch.Event == "" && !ch.Touched {
		return b, nil
	}
	b.Version++
	b.UpdateTime = now
	out, err := s.persist(ctx, tx, b, ch, now)
	if err != nil {
		return billing.Bill{}, err
	}
	if ch.Event != "" {
		s.emit(tx, ch.Event, out, nil)
	}
	return out, nil
}

const claimSagasSQL = `
UPDATE pay_sagas SET lease_owner = $1, lease_until = now() + $2::interval
WHERE id IN (
    SELECT id FROM pay_sagas
    WHERE state IN ('running', 'compensating') AND due_time <= now() AND (lease_owner IS NULL OR lease_until < now())
    ORDER BY due_time
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
RETURNING ` + sagaColumns

// ClaimSagas implements billing.SagaStore.
func (s *Store) ClaimSagas(ctx context.Context, owner string, lease time.Duration, limit int) ([]billing.Saga, error) {
	rows, err := s.pool.Query(ctx, claimSagasSQL, owner, lease, limit)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("claim sagas: %w", err))
	}
	sagas, err := pgx.CollectRows(rows, scanSaga)
	return sagas, pgxutil.MapError(err)
}

const saveSagaSQL = `
UPDATE pay_sagas SET state = $3, step = $4, payment_id = $5, failure_code = $6, failure_message = $7,
    failed_item_ids = $8, progress = $9, update_time = $10, step_time = $11, end_time = $12,
    lease_owner = CASE WHEN $13 OR $3 IN ('succeeded', 'failed') THEN NULL ELSE lease_owner END,
    lease_until = CASE WHEN $13 OR $3 IN ('succeeded', 'failed') THEN NULL ELSE now() + $14::interval END,
    due_time    = CASE WHEN $13 THEN now() + $15::interval ELSE due_time END
WHERE id = $1 AND lease_owner = $2`

// SaveSaga implements billing.SagaStore.
func (s *Store) SaveSaga(ctx context.Context, sg billing.Saga, owner string, lease time.Duration, release bool, retryAfter time.Duration, now time.Time, fn func(b *billing.Bill) billing.Change) error {
	progress, err := json.Marshal(sg.Progress)
	if err != nil {
		return fmt.Errorf("encode saga progress: %w", err)
	}
	return s.tx.Run(ctx, func(tx *txn.Tx) error {
		// Lock the bill first, as every other writer of the bill does.
		b, err := loadBill(ctx, tx, sg.BillID, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, saveSagaSQL, sg.ID, owner, sg.State.String(), sg.Step.String(), sg.PaymentID, sg.FailureCode,
			sg.FailureMessage, nonNil(sg.FailedItemIDs), progress, sg.UpdateTime, sg.StepTime, nullTime(sg.EndTime),
			release, lease, retryAfter)
		if err != nil {
			return fmt.Errorf("save saga: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return billing.ErrLeaseLost
		}
		if b.Saga == nil || b.Saga.ID != sg.ID {
			return nil
		}
		_, err = s.applyChange(ctx, tx, b, fn(&b), now)
		return err
	})
}

const paidBillOfPaymentSQL = `SELECT id::text FROM bills WHERE payment_id = $1 AND status = 'paid' FOR UPDATE`

// SettlementsIn returns the store's settlements in tx, the transaction of the consumer of the
// payment service's events, for billing.Service.SettlePayment.
func (s *Store) SettlementsIn(tx *txn.Tx) billing.Settlements { return settlements{s: s, tx: tx} }

// settlements is billing.Settlements in a consumer's transaction.
type settlements struct {
	s  *Store
	tx *txn.Tx
}

// MutatePaidBill implements billing.Settlements.
func (st settlements) MutatePaidBill(ctx context.Context, paymentID string, now time.Time, fn func(b *billing.Bill) billing.Change) (bool, error) {
	var billID string
	err := st.tx.QueryRow(ctx, paidBillOfPaymentSQL, paymentID).Scan(&billID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find bill of payment: %w", err)
	}
	b, err := loadBill(ctx, st.tx, billID, true)
	if err != nil {
		return false, err
	}
	ch := fn(&b)
	if ch.Event == "" && !ch.Touched {
		return false, nil
	}
	if _, err := st.s.applyChange(ctx, st.tx, b, ch, now); err != nil {
		return false, err
	}
	return true, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
