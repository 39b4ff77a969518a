package analyticspg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analytics"
)

const alertColumns = `id::text, rule, subject, message, value, threshold, raised_at, cleared_at`

const raiseSQL = `
INSERT INTO alerts (id, rule, subject, message, value, threshold, raised_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (rule, subject) WHERE cleared_at IS NULL DO NOTHING
RETURNING ` + alertColumns

const clearSQL = `
UPDATE alerts SET cleared_at = $1
WHERE cleared_at IS NULL AND NOT (rule || '/' || subject = ANY($2::text[]))
RETURNING ` + alertColumns

func scanAlert(r pgx.CollectableRow) (analytics.Alert, error) {
	var a analytics.Alert
	var rule string
	var cleared *time.Time
	if err := r.Scan(&a.ID, &rule, &a.Subject, &a.Message, &a.Value, &a.Threshold, &a.RaisedAt, &cleared); err != nil {
		return a, err
	}
	a.Rule = analytics.AlertRule(rule)
	if cleared != nil {
		a.ClearedAt = *cleared
	}
	return a, nil
}

// SyncAlerts implements analytics.Store: in one transaction it raises the conditions
// without an open alert and clears the open alerts whose condition is gone, emitting
// analytics.alert.raised and analytics.alert.cleared with the changes. Replicas
// evaluating together raise an alert once (the unique index on open alerts).
func (s *Store) SyncAlerts(ctx context.Context, now time.Time, conds []analytics.Condition) (raised, cleared []analytics.Alert, err error) {
	err = s.tx.Run(ctx, func(tx *txn.Tx) error {
		raised, cleared = nil, nil
		holding := make([]string, 0, len(conds))
		for _, c := range conds {
			holding = append(holding, string(c.Rule)+"/"+c.Subject)
			rows, err := tx.Query(ctx, raiseSQL, ids.New(), string(c.Rule), c.Subject, c.Message, c.Value, c.Threshold, now)
			if err != nil {
				return fmt.Errorf("raise alert: %w", err)
			}
			got, err := pgx.CollectRows(rows, scanAlert)
			if err != nil {
				return fmt.Errorf("raise alert: %w", err)
			}
			raised = append(raised, got...)
		}
		rows, err := tx.Query(ctx, clearSQL, now, holding)
		if err != nil {
			return fmt.Errorf("clear alerts: %w", err)
		}
		if cleared, err = pgx.CollectRows(rows, scanAlert); err != nil {
			return fmt.Errorf("clear alerts: %w", err)
		}
		for _, a := range raised {
			tx.Emit(outbox.Event{Type: analytics.EventTypeAlertRaised, Key: a.ID, Payload: s.opts.AlertEvent(a)})
		}
		for _, a := range cleared {
			tx.Emit(outbox.Event{Type: analytics.EventTypeAlertCleared, Key: a.ID, Payload: s.opts.AlertEvent(a)})
		}
		return nil
	})
	if err != nil {
		return nil, nil, pgxutil.MapError(err)
	}
	return raised, cleared, nil
}

// Alerts implements analytics.Store.
func (s *Store) Alerts(ctx context.Context, openOnly bool, limit int) ([]analytics.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE NOT $1 OR cleared_at IS NULL
		ORDER BY raised_at DESC, id LIMIT $2`, openOnly, limit)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("list alerts: %w", err))
	}
	out, err := pgx.CollectRows(rows, scanAlert)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("list alerts: %w", err))
	}
	return out, nil
}
