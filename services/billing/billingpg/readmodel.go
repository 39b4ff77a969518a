package billingpg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billing"
)

// summaryUpsert stores a reservation's summary (rows chosen by the statement it ends)
// unless billing holds the same or a newer version. An update without a title keeps the
// stored one, and an older update still fills a title billing does not have yet. Its
// parameters are summaryArgs', and it returns a row only when it changed something.
const summaryUpsert = `
ON CONFLICT (provider, reservation_id) DO UPDATE SET
    kind          = CASE WHEN EXCLUDED.provider_version > r.provider_version AND EXCLUDED.kind <> 0 THEN EXCLUDED.kind ELSE r.kind END,
    customer_id   = CASE WHEN EXCLUDED.provider_version > r.provider_version AND EXCLUDED.customer_id <> '' THEN EXCLUDED.customer_id ELSE r.customer_id END,
    main_status   = CASE WHEN EXCLUDED.provider_version > r.provider_version THEN EXCLUDED.main_status ELSE r.main_status END,
    sub_status    = CASE WHEN EXCLUDED.provider_version > r.provider_version THEN EXCLUDED.sub_status ELSE r.sub_status END,
    amount_minor  = CASE WHEN EXCLUDED.provider_version > r.provider_version AND EXCLUDED.currency_code <> '' THEN EXCLUDED.amount_minor ELSE r.amount_minor END,
    currency_code = CASE WHEN EXCLUDED.provider_version > r.provider_version AND EXCLUDED.currency_code <> '' THEN EXCLUDED.currency_code ELSE r.currency_code END,
    title         = CASE WHEN EXCLUDED.title <> '' AND (EXCLUDED.provider_version > r.provider_version OR r.title = '') THEN EXCLUDED.title ELSE r.title END,
    provider_update_time = CASE WHEN EXCLUDED.provider_version > r.provider_version THEN EXCLUDED.provider_update_time ELSE r.provider_update_time END,
    provider_version     = GREATEST(EXCLUDED.provider_version, r.provider_version),
    changed_at           = EXCLUDED.changed_at
WHERE EXCLUDED.provider_version > r.provider_version OR (r.title = '' AND EXCLUDED.title <> '')
RETURNING true`

// summaryColumns are the columns summaryArgs fill, in order.
const summaryColumns = `(provider, reservation_id, kind, customer_id, main_status, sub_status,
    amount_minor, currency_code, title, provider_update_time, provider_version, changed_at)`

// storeSummarySQL stores the summary of a reservation being added to a bill.
const storeSummarySQL = `
INSERT INTO reservation_summaries AS r ` + summaryColumns + `
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)` + summaryUpsert

// applySummarySQL applies a provider's summary from its event stream. Billing keeps
// summaries only of the reservations it tracks: those it holds a row of (Track makes
// one before an item is added, see there) and those on a bill. The events of the many
// reservations that never reach a bill write nothing. When the summary changed, it
// returns the bills not cancelled that hold the reservation and the items naming it (a
// row of NULLs when there is none).
const applySummarySQL = `
WITH changed AS (
    INSERT INTO reservation_summaries AS r ` + summaryColumns + `
    SELECT $1::text, $2::text, $3::integer, $4::text, $5::integer, $6::text, $7::bigint, $8::text, $9::text,
        $10::timestamptz, $11::bigint, $12::timestamptz
    WHERE EXISTS (SELECT 1 FROM reservation_summaries WHERE provider = $1 AND reservation_id = $2)
       OR EXISTS (SELECT 1 FROM bill_items WHERE provider = $1 AND reservation_id = $2 AND NOT released)` + summaryUpsert + `)
SELECT i.bill_id::text, i.id::text
FROM changed LEFT JOIN bill_items i ON i.provider = $1 AND i.reservation_id = $2 AND NOT i.released
ORDER BY i.bill_id`

// trackSQL starts tracking a reservation: an empty summary (provider_version 0) that
// its events then fill.
const trackSQL = `
INSERT INTO reservation_summaries (provider, reservation_id) VALUES ($1, $2)
ON CONFLICT (provider, reservation_id) DO NOTHING`

// Track implements billing.Store: from its commit on, the provider's events about the
// reservation are applied to billing's read model, whether or not it is on a bill yet.
// A reservation whose details then fail the checks stays tracked (one small row, and
// its events applied); rows of reservations never added are not removed.
func (s *Store) Track(ctx context.Context, provider, reservationID string) error {
	if _, err := s.pool.Exec(ctx, trackSQL, provider, reservationID); err != nil {
		return pgxutil.MapError(fmt.Errorf("track reservation: %w", err))
	}
	return nil
}

// summaryArgs are addedSummarySQL's and applySummarySQL's parameters.
func summaryArgs(s billing.Summary, now time.Time) []any {
	return []any{s.Provider, s.ReservationID, int32(s.Kind), s.CustomerID, int32(s.MainStatus),
		s.SubStatus, s.Amount.Amount, s.Amount.Currency, s.Title, nullTime(s.UpdateTime), s.Version, now}
}

const touchBillSQL = `UPDATE bills SET update_time = $2, version = version + 1 WHERE id = $1`

// ApplySummary applies a provider's summary of a reservation in tx, the transaction of
// the consumer that received it or of CompleteRefresh (see applySummarySQL): billing's copy changes only when
// the version is newer, and each bill holding the reservation then gets a new version
// and update time and emits billing.bill.item_updated. It reports whether a bill
// changed.
func (s *Store) ApplySummary(ctx context.Context, tx *txn.Tx, sum billing.Summary, now time.Time) (bool, error) {
	rows, err := tx.Query(ctx, applySummarySQL, summaryArgs(sum, now)...)
	if err != nil {
		return false, fmt.Errorf("apply summary: %w", err)
	}
	type ref struct{ bill, item *string }
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ref, error) {
		var x ref
		return x, r.Scan(&x.bill, &x.item)
	})
	if err != nil {
		return false, fmt.Errorf("apply summary: %w", err)
	}
	touched := false
	for _, r := range refs {
		if r.bill == nil {
			continue // the summary changed; no bill holds the reservation now
		}
		touch := &pgx.Batch{}
		touch.Queue(touchBillSQL, *r.bill, now)
		bills, err := sendPage(ctx, tx, touch, false, billSQL, []any{*r.bill})
		if err != nil {
			return false, fmt.Errorf("touch bill: %w", err)
		}
		if len(bills) == 0 {
			return false, notFound(*r.bill)
		}
		b := bills[0]
		s.emit(tx, billing.EventItemUpdated, b, findItem(b, *r.item))
		touched = true
	}
	return touched, nil
}

// requestRefreshSQL marks a reservation for refresh when billing holds a summary of it
// or it is on a bill; events about reservations billing never saw write nothing.
const requestRefreshSQL = `
WITH updated AS (
    UPDATE reservation_summaries SET refresh_requested_at = $3
    WHERE provider = $1 AND reservation_id = $2
    RETURNING 1)
INSERT INTO reservation_summaries (provider, reservation_id, refresh_requested_at)
SELECT $1, $2, $3
WHERE NOT EXISTS (SELECT 1 FROM updated)
  AND EXISTS (SELECT 1 FROM bill_items WHERE provider = $1 AND reservation_id = $2 AND NOT released)
ON CONFLICT (provider, reservation_id) DO UPDATE SET refresh_requested_at = EXCLUDED.refresh_requested_at`

// RequestRefresh records in tx that a reservation changed in a way billing could not
// read from the event, so that the refresher fetches its details.
func (s *Store) RequestRefresh(ctx context.Context, tx *txn.Tx, provider, reservationID string, now time.Time) error {
	if _, err := tx.Exec(ctx, requestRefreshSQL, provider, reservationID, now); err != nil {
		return fmt.Errorf("request refresh: %w", err)
	}
	return nil
}

const pendingRefreshSQL = `
SELECT s.reservation_id, s.refresh_requested_at FROM reservation_summaries s
WHERE s.provider = $1 AND s.refresh_requested_at IS NOT NULL
  AND EXISTS (SELECT 1 FROM bill_items i WHERE i.provider = s.provider AND i.reservation_id = s.reservation_id AND NOT i.released)
ORDER BY s.refresh_requested_at
LIMIT $2`

// PendingRefresh returns up to limit reservations of provider, on bills not cancelled,
// whose details must be fetched again.
func (s *Store) PendingRefresh(ctx context.Context, provider string, limit int) ([]billing.RefreshRequest, error) {
	rows, err := s.pool.Query(ctx, pendingRefreshSQL, provider, limit)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("pending refresh: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.RefreshRequest, error) {
		var x billing.RefreshRequest
		return x, r.Scan(&x.ReservationID, &x.RequestedAt)
	})
	return out, pgxutil.MapError(err)
}

const clearRefreshSQL = `
UPDATE reservation_summaries SET refresh_requested_at = NULL
WHERE provider = $1 AND reservation_id = $2 AND refresh_requested_at = $3`

// CompleteRefresh applies the fetched summaries (nil for a reservation the provider no
// longer knows) and clears the requests they answer, in one transaction.
func (s *Store) CompleteRefresh(ctx context.Context, provider string, done []billing.RefreshRequest, sums []*billing.Summary, now time.Time) error {
	return s.tx.Run(ctx, func(tx *txn.Tx) error {
		for i, r := range done {
			if sum := sums[i]; sum != nil {
				if _, err := s.ApplySummary(ctx, tx, *sum, now); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, clearRefreshSQL, provider, r.ReservationID, r.RequestedAt); err != nil {
				return fmt.Errorf("clear refresh: %w", err)
			}
		}
		return nil
	})
}
