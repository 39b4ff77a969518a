package farepg

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/waybill/waybill/services/fare/fare"
)

// insertQuoteSQL stores one quote; the id comes from the database.
const insertQuoteSQL = `INSERT INTO quote (product_key, rate_card_id, rate_version, currency_code,
	quantity, nights, check_in_date, check_out_date, unit_price, price, multiplier_bps,
	load_factor_bps, surge_zone, distance_meters, duration_seconds, lines, create_time, valid_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
RETURNING id::text`

// InsertQuote implements fare.Store: one INSERT, outside any explicit transaction.
func (s *Store) InsertQuote(ctx context.Context, q fare.Quote) (fare.Quote, error) {
	lines, err := json.Marshal(q.Lines)
	if err != nil {
		return fare.Quote{}, fmt.Errorf("encode quote lines: %w", err)
	}
	var checkIn, checkOut, unit any
	if q.CheckIn != (fare.Date{}) {
		checkIn, checkOut = q.CheckIn.Time(), q.CheckOut.Time()
	}
	if q.HasUnitPrice {
		unit = q.UnitPrice
	}
	err = s.pool.QueryRow(ctx, insertQuoteSQL, q.Key.Canonical(), q.RateCardID, q.RateVersion, q.Currency,
		q.Quantity, q.Nights, checkIn, checkOut, unit, q.Price, q.MultiplierBps,
		q.LoadFactorBps, q.SurgeZone, q.DistanceMeters, q.DurationSeconds, lines, q.CreateTime, q.ValidUntil).Scan(&q.ID)
	if err != nil {
		return fare.Quote{}, mapError(fmt.Errorf("insert quote: %w", err))
	}
	return q, nil
}
