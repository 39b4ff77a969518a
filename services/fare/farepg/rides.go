package farepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/fare/fare"
)

// lockTripSQL serializes everything that prices one trip (CalculateRideFare, the trip
// events' consumer and the retry loop), including before the trip has a row.
const lockTripSQL = `SELECT pg_advisory_xact_lock(hashtext('fare.trip'), hashtext($1))`

// fareColumns are the columns scanFare reads, from ride_fare aliased f.
const fareColumns = `f.trip_id, f.customer_id, f.city, f.product, f.distance_meters, f.duration_seconds,
	f.distance_source, f.rate_card_id::text, f.rate_version, f.surge_multiplier_bps, f.quote_id, f.lines,
	f.total_minor, f.currency_code, f.request_time, f.create_time, f.inputs`

func scanFare(row pgx.Row) (fare.Fare, error) {
	var (
		f             fare.Fare
		lines, inputs []byte
		total         int64
		currency      string
	)
	err := row.Scan(&f.TripID, &f.CustomerID, &f.City, &f.Product, &f.DistanceMeters, &f.DurationSeconds,
		&f.DistanceSource, &f.RateCardID, &f.RateVersion, &f.SurgeBps, &f.QuoteID, &lines,
		&total, &currency, &f.RequestTime, &f.CreateTime, &inputs)
	if err != nil {
		return fare.Fare{}, err
	}
	if err := json.Unmarshal(lines, &f.Lines); err != nil {
		return fare.Fare{}, fmt.Errorf("decode fare lines: %w", err)
	}
	if err := json.Unmarshal(inputs, &f.Inputs); err != nil {
		return fare.Fare{}, fmt.Errorf("decode fare inputs: %w", err)
	}
	f.Total = money.New(total, currency)
	f.RequestTime, f.CreateTime = f.RequestTime.UTC(), f.CreateTime.UTC()
	return f, nil
}

// Fare implements fare.RideStore.
func (s *Store) Fare(ctx context.Context, tripID string) (fare.Fare, error) {
	f, err := scanFare(s.pool.QueryRow(ctx, `SELECT `+fareColumns+` FROM ride_fare f WHERE f.trip_id = $1`, tripID))
	if err != nil {
		return fare.Fare{}, pgxutil.MapNotFound(err, "trip %s has no fare", tripID)
	}
	return f, nil
}

// Calculating implements fare.RideStore.
func (s *Store) Calculating(ctx context.Context, tripID string) (string, bool, error) {
	var customer string
	var priced bool
	err := s.pool.QueryRow(ctx, `SELECT customer_id, priced FROM ride_trip WHERE trip_id = $1`, tripID).Scan(&customer, &priced)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, wrap(err, "read trip %s", tripID)
	}
	return customer, !priced, nil
}

const listFaresSQL = `SELECT ` + fareColumns + ` FROM ride_fare f
WHERE (@customer::text = '' OR f.customer_id = @customer)
  AND (@city::text = '' OR f.city = @city)
  AND (@from::timestamptz IS NULL OR f.create_time >= @from)
  AND (@to::timestamptz IS NULL OR f.create_time < @to)
  AND (@after_time::timestamptz IS NULL OR (f.create_time, f.trip_id) < (@after_time, @after_id::text))
ORDER BY f.create_time DESC, f.trip_id DESC
LIMIT @limit`

// ListFares implements fare.RideStore.
func (s *Store) ListFares(ctx context.Context, f fare.FareFilter, after *fare.FareCursor, limit int) ([]fare.Fare, error) {
	opt := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	}
	args := pgx.NamedArgs{"customer": f.CustomerID, "city": f.City, "from": opt(f.From), "to": opt(f.To),
		"after_time": nil, "after_id": "", "limit": limit}
	if after != nil {
		args["after_time"], args["after_id"] = after.CreateTime, after.TripID
	}
	rows, err := s.pool.Query(ctx, listFaresSQL, args)
	if err != nil {
		return nil, wrap(err, "list fares")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fare.Fare, error) { return scanFare(r) })
	if err != nil {
		return nil, wrap(err, "list fares")
	}
	return out, nil
}

// DueTrips implements fare.RideStore.
func (s *Store) DueTrips(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT trip_id FROM ride_trip WHERE NOT priced AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, wrap(err, "list trips to price")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "list trips to price")
	}
	return out, nil
}

// RetryTrip implements fare.RideStore.
func (s *Store) RetryTrip(ctx context.Context, tripID string, fn func(tx fare.RideTx, rec fare.TripRecord, attempts int) error) error {
	return s.tx.Run(ctx, func(tx *txn.Tx) error {
		if _, err := tx.Exec(ctx, lockTripSQL, tripID); err != nil {
			return fmt.Errorf("lock trip %s: %w", tripID, err)
		}
		var (
			record   []byte
			attempts int
			priced   bool
		)
		err := tx.QueryRow(ctx, `SELECT record, attempts, priced FROM ride_trip WHERE trip_id = $1`, tripID).Scan(&record, &attempts, &priced)
		if errors.Is(err, pgx.ErrNoRows) || priced {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read trip %s: %w", tripID, err)
		}
		var rec fare.TripRecord
		if err := json.Unmarshal(record, &rec); err != nil {
			return fmt.Errorf("decode the record of trip %s: %w", tripID, err)
		}
		return fn(s.RidesIn(tx), rec, attempts)
	})
}

// RunRide implements fare.RideStore: the trip's lock, then the idempotency claim
// (idempotencypg.Do, whose stored result is the trip id), then fn, in one transaction.
func (s *Store) RunRide(ctx context.Context, tripID string, key idempotency.Key, fn func(tx fare.RideTx) error) (bool, error) {
	var replayed bool
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		if _, err := tx.Exec(ctx, lockTripSQL, tripID); err != nil {
			return fmt.Errorf("lock trip %s: %w", tripID, err)
		}
		var err error
		_, replayed, err = idempotencypg.Do(ctx, s.keys, tx, key, func() (string, error) {
			return tripID, fn(s.RidesIn(tx))
		})
		return err
	})
	return replayed, err
}

// RidesIn returns the ride storage bound to tx, a transaction of kit/txn: the trip
// events' consumer's, whose cursor commits with what the domain writes through it.
func (s *Store) RidesIn(tx *txn.Tx) fare.RideTx { return &rideTx{s: s, tx: tx} }

// rideTx implements fare.RideTx in one transaction.
type rideTx struct {
	s  *Store
	tx *txn.Tx
}

func (r *rideTx) Fare(ctx context.Context, tripID string) (fare.Fare, bool, error) {
	f, err := scanFare(r.tx.QueryRow(ctx, `SELECT `+fareColumns+` FROM ride_fare f WHERE f.trip_id = $1`, tripID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fare.Fare{}, false, nil
	case err != nil:
		return fare.Fare{}, false, fmt.Errorf("read fare of trip %s: %w", tripID, err)
	}
	return f, true, nil
}

func (r *rideTx) Quote(ctx context.Context, id string) (fare.Quote, bool, error) {
	var (
		q     fare.Quote
		key   string
		lines []byte
	)
	err := r.tx.QueryRow(ctx, `SELECT id::text, product_key, rate_card_id::text, rate_version, currency_code, price,
	multiplier_bps, surge_zone, distance_meters, duration_seconds, lines, create_time, valid_until
FROM quote WHERE id = $1`, id).Scan(&q.ID, &key, &q.RateCardID, &q.RateVersion, &q.Currency, &q.Price,
		&q.MultiplierBps, &q.SurgeZone, &q.DistanceMeters, &q.DurationSeconds, &lines, &q.CreateTime, &q.ValidUntil)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fare.Quote{}, false, nil
	case err != nil:
		return fare.Quote{}, false, fmt.Errorf("read quote %s: %w", id, err)
	}
	if q.Key, err = fare.ParseProductKey(key); err != nil {
		return fare.Quote{}, false, err
	}
	if err := json.Unmarshal(lines, &q.Lines); err != nil {
		return fare.Quote{}, false, fmt.Errorf("decode quote lines: %w", err)
	}
	q.CreateTime, q.ValidUntil = q.CreateTime.UTC(), q.ValidUntil.UTC()
	return q, true, nil
}

func (r *rideTx) RateCardVersion(ctx context.Context, id string, version int64) (fare.RateCard, error) {
	c, err := scanRateCard(r.tx.QueryRow(ctx, `SELECT `+versionColumns+` FROM rate_card_version v WHERE v.rate_card_id = $1 AND v.version = $2`, id, version))
	if err != nil {
		return fare.RateCard{}, pgxutil.MapNotFound(err, "rate card %s has no version %d", id, version)
	}
	return c, nil
}

const (
	rideCardAtSQL = `SELECT ` + versionColumns + ` FROM rate_card_version v
WHERE v.product_key = $1 AND v.effective_time <= $2 ORDER BY v.version DESC LIMIT 1`
	rideCardAfterSQL = `SELECT ` + versionColumns + ` FROM rate_card_version v
WHERE v.product_key = $1 AND v.effective_time > $2 AND v.effective_time <= now() ORDER BY v.version LIMIT 1`
)

func (r *rideTx) RideCardAt(ctx context.Context, key fare.ProductKey, t time.Time, after bool) (fare.RateCard, bool, error) {
	q := rideCardAtSQL
	if after {
		q = rideCardAfterSQL
	}
	c, err := scanRateCard(r.tx.QueryRow(ctx, q, key.Canonical(), t))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fare.RateCard{}, false, nil
	case err != nil:
		return fare.RateCard{}, false, fmt.Errorf("read the rate card of %s: %w", key.Canonical(), err)
	}
	return c, true, nil
}

func (r *rideTx) RecordTrip(ctx context.Context, rec fare.TripRecord, now time.Time) (bool, error) {
	record, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("encode the record of trip %s: %w", rec.TripID, err)
	}
	b := &pgx.Batch{}
	b.Queue(lockTripSQL, rec.TripID)
	var inserted bool
	b.Queue(`INSERT INTO ride_trip (trip_id, customer_id, record, received_at, next_attempt_at)
VALUES ($1, $2, $3, $4, $4) ON CONFLICT (trip_id) DO NOTHING RETURNING true`,
		rec.TripID, rec.CustomerID, record, now).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&inserted)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := r.tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("record trip %s: %w", rec.TripID, err)
	}
	return inserted, nil
}

func (r *rideTx) InsertFare(ctx context.Context, f fare.Fare) error {
	lines, err := json.Marshal(f.Lines)
	if err != nil {
		return fmt.Errorf("encode fare lines: %w", err)
	}
	inputs, err := json.Marshal(f.Inputs)
	if err != nil {
		return fmt.Errorf("encode fare inputs: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO ride_fare (trip_id, customer_id, city, product, distance_meters, duration_seconds,
	distance_source, rate_card_id, rate_version, surge_multiplier_bps, quote_id, lines, total_minor, currency_code,
	request_time, create_time, inputs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		f.TripID, f.CustomerID, f.City, f.Product, f.DistanceMeters, f.DurationSeconds, f.DistanceSource,
		f.RateCardID, f.RateVersion, f.SurgeBps, f.QuoteID, lines, f.Total.Amount, f.Total.Currency,
		f.RequestTime, f.CreateTime, inputs)
	b.Queue(`UPDATE ride_trip SET priced = true WHERE trip_id = $1`, f.TripID)
	if err := r.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert fare of trip %s: %w", f.TripID, err)
	}
	r.tx.Emit(outbox.Event{Type: fare.EventTypeFareCalculated, Key: f.TripID, Payload: r.s.opts.FareEvent(f)})
	return nil
}

func (r *rideTx) MarkPriced(ctx context.Context, tripID string) error {
	if _, err := r.tx.Exec(ctx, `UPDATE ride_trip SET priced = true WHERE trip_id = $1`, tripID); err != nil {
		return fmt.Errorf("mark trip %s priced: %w", tripID, err)
	}
	return nil
}

func (r *rideTx) Postpone(ctx context.Context, tripID, reason string, next time.Time) error {
	if _, err := r.tx.Exec(ctx, `UPDATE ride_trip SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE trip_id = $1`,
		tripID, reason, next); err != nil {
		return fmt.Errorf("postpone pricing trip %s: %w", tripID, err)
	}
	return nil
}

// zoneColumns are the columns scanZone reads, from zone_surge aliased z.
const zoneColumns = `z.zone, z.center_lat, z.center_lng, z.available_drivers, z.open_requests, z.raw_bps,
	z.ratio_bps, z.multiplier_bps, z.as_of, z.update_time`

func scanZone(row pgx.Row) (fare.ZoneSurge, error) {
	var z fare.ZoneSurge
	err := row.Scan(&z.Zone, &z.Center.Latitude, &z.Center.Longitude, &z.AvailableDrivers, &z.OpenRequests,
		&z.RawBps, &z.RatioBps, &z.MultiplierBps, &z.AsOf, &z.UpdateTime)
	z.AsOf, z.UpdateTime = z.AsOf.UTC(), z.UpdateTime.UTC()
	return z, err
}

// ZoneSurge implements fare.Store.
func (s *Store) ZoneSurge(ctx context.Context, cell string) (fare.ZoneSurge, bool, error) {
	z, err := scanZone(s.pool.QueryRow(ctx, `SELECT `+zoneColumns+` FROM zone_surge z WHERE z.zone = $1`, cell))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fare.ZoneSurge{}, false, nil
	case err != nil:
		return fare.ZoneSurge{}, false, wrap(err, "read the surge of cell %s", cell)
	}
	return z, true, nil
}

// ZonesIn returns the automatic surges' storage bound to tx, the zone events'
// consumer's transaction.
func (s *Store) ZonesIn(tx *txn.Tx) fare.ZoneTx { return zoneTx{tx: tx} }

type zoneTx struct{ tx *txn.Tx }

func (z zoneTx) LockZoneSurge(ctx context.Context, zone string) (fare.ZoneSurge, bool, error) {
	got, err := scanZone(z.tx.QueryRow(ctx, `SELECT `+zoneColumns+` FROM zone_surge z WHERE z.zone = $1 FOR UPDATE`, zone))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fare.ZoneSurge{}, false, nil
	case err != nil:
		return fare.ZoneSurge{}, false, fmt.Errorf("read the surge of cell %s: %w", zone, err)
	}
	return got, true, nil
}

func (z zoneTx) PutZoneSurge(ctx context.Context, s fare.ZoneSurge) error {
	_, err := z.tx.Exec(ctx, `INSERT INTO zone_surge (zone, center_lat, center_lng, available_drivers, open_requests,
	raw_bps, ratio_bps, multiplier_bps, as_of, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (zone) DO UPDATE SET center_lat = excluded.center_lat, center_lng = excluded.center_lng,
	available_drivers = excluded.available_drivers, open_requests = excluded.open_requests,
	raw_bps = excluded.raw_bps, ratio_bps = excluded.ratio_bps, multiplier_bps = excluded.multiplier_bps,
	as_of = excluded.as_of, update_time = excluded.update_time`,
		s.Zone, s.Center.Latitude, s.Center.Longitude, s.AvailableDrivers, s.OpenRequests, s.RawBps, s.RatioBps,
		s.MultiplierBps, s.AsOf, s.UpdateTime)
	if err != nil {
		return fmt.Errorf("store the surge of cell %s: %w", s.Zone, err)
	}
	return nil
}
