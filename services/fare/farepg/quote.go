package farepg

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/services/fare/fare"
)

// insertQuoteSQL stores one quote; the id comes from the database.
//
// The statement commits asynchronously (synchronous_commit off for its own implicit
// transaction only, through set_config(..., true) in the same statement): it returns
// without waiting for the WAL flush. After a crash of PostgreSQL, the quotes of the last
// few hundred milliseconds (at most three wal_writer_delay) may be missing, which is
// harmless: a quote is an append-only record that nothing updates, and a reservation
// made from it stores its own copy of the price, rate card and rate version. The
// database stays consistent: an asynchronous commit is lost whole or kept whole. Every
// other write of fare (rate cards, surges, and the events they emit) still commits
// synchronously.
const insertQuoteSQL = `INSERT INTO quote (product_key, rate_card_id, rate_version, currency_code,
	quantity, nights, check_in_date, check_out_date, unit_price, price, multiplier_bps,
	load_factor_bps, surge_zone, distance_meters, duration_seconds, lines, create_time, valid_until)
SELECT $1::text, $2::uuid, $3::bigint, $4::text, $5::integer, $6::integer, $7::date, $8::date,
	$9::bigint, $10::bigint, $11::integer, $12::integer, $13::text, $14::bigint, $15::bigint,
	$16::jsonb, $17::timestamptz, $18::timestamptz
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
RETURNING id::text`

// InsertQuotes implements fare.Store: the quotes' INSERTs go out as one pipelined batch,
// which PostgreSQL runs as one implicit transaction, committed asynchronously (see
// insertQuoteSQL): all of them are stored, or none.
func (s *Store) InsertQuotes(ctx context.Context, qs []fare.Quote) ([]fare.Quote, error) {
	out := slices.Clone(qs)
	b := &pgx.Batch{}
	for i := range out {
		args, err := quoteArgs(out[i])
		if err != nil {
			return nil, err
		}
		b.Queue(insertQuoteSQL, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&out[i].ID) })
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, wrap(err, "insert quotes")
	}
	return out, nil
}

// quoteArgs are insertQuoteSQL's arguments for q.
func quoteArgs(q fare.Quote) ([]any, error) {
	lines, err := json.Marshal(q.Lines)
	if err != nil {
		return nil, fmt.Errorf("encode quote lines: %w", err)
	}
	var checkIn, checkOut, unit any
	if q.CheckIn != (fare.Date{}) {
		checkIn, checkOut = q.CheckIn.Time(), q.CheckOut.Time()
	}
	if q.HasUnitPrice {
		unit = q.UnitPrice
	}
	return []any{q.Key.Canonical(), q.RateCardID, q.RateVersion, q.Currency,
		q.Quantity, q.Nights, checkIn, checkOut, unit, q.Price, q.MultiplierBps,
		q.LoadFactorBps, q.SurgeZone, q.DistanceMeters, q.DurationSeconds, lines, q.CreateTime, q.ValidUntil}, nil
}
