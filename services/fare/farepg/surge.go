package farepg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/fare/fare"
)

// surgeColumns are the columns scanSurge reads, from surge or surge_history aliased s.
const surgeColumns = `s.city, s.zone, s.multiplier_bps, s.center_lat, s.center_lng, s.radius_meters,
	s.expire_time, s.reason, s.actor, s.create_time, s.update_time, s.version`

func scanSurge(row pgx.Row) (fare.Surge, error) {
	var (
		s        fare.Surge
		lat, lng *float64
		expire   *time.Time
	)
	err := row.Scan(&s.City, &s.Zone, &s.MultiplierBps, &lat, &lng, &s.RadiusMeters,
		&expire, &s.Reason, &s.Actor, &s.CreateTime, &s.UpdateTime, &s.Version)
	if err != nil {
		return fare.Surge{}, err
	}
	if lat != nil && lng != nil {
		s.Center = &fare.GeoPoint{Latitude: *lat, Longitude: *lng}
	}
	if expire != nil {
		s.ExpireTime = expire.UTC()
	}
	s.CreateTime, s.UpdateTime = s.CreateTime.UTC(), s.UpdateTime.UTC()
	return s, nil
}

func collectSurges(rows pgx.Rows) ([]fare.Surge, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (fare.Surge, error) { return scanSurge(r) })
}

const citySurgesSQL = `SELECT ` + surgeColumns + ` FROM surge s WHERE s.city = $1`

// RideQuoteInputs implements fare.Store: the card, the city's zones and the pickup
// cell's automatic surge in one batch.
func (s *Store) RideQuoteInputs(ctx context.Context, key fare.ProductKey, cell string, now time.Time) (fare.RateCard, []fare.Surge, *fare.ZoneSurge, error) {
	var (
		card    fare.RateCard
		zones   []fare.Surge
		auto    *fare.ZoneSurge
		cardErr error
	)
	b := &pgx.Batch{}
	b.Queue(inEffectByKeysSQL, key.Canonical(), "", now).QueryRow(func(row pgx.Row) error {
		var preference int
		card, cardErr = scanRateCard(row, &preference)
		return nil // reported below, after the batch
	})
	b.Queue(citySurgesSQL, key.Ride.City).Query(func(rows pgx.Rows) error {
		var err error
		zones, err = collectSurges(rows)
		return err
	})
	b.Queue(`SELECT `+zoneColumns+` FROM zone_surge z WHERE z.zone = $1`, cell).QueryRow(func(row pgx.Row) error {
		z, err := scanZone(row)
		switch {
		case err == nil:
			auto = &z
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		return nil
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fare.RateCard{}, nil, nil, wrap(err, "read ride card and surges")
	}
	if cardErr != nil {
		return fare.RateCard{}, nil, nil, pgxutil.MapNotFound(cardErr, "no rate card for %s is in effect", key.Canonical())
	}
	return card, zones, auto, nil
}

// Surge implements fare.Store.
func (s *Store) Surge(ctx context.Context, city, zone string) (fare.Surge, error) {
	z, err := scanSurge(s.pool.QueryRow(ctx, `SELECT `+surgeColumns+` FROM surge s WHERE s.city = $1 AND s.zone = $2`, city, zone))
	if err != nil {
		return fare.Surge{}, pgxutil.MapNotFound(err, "no surge was ever set in zone %s of %s", zone, city)
	}
	return z, nil
}

// ListSurges implements fare.Store.
func (s *Store) ListSurges(ctx context.Context, city, afterZone string, limit int) ([]fare.Surge, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+surgeColumns+` FROM surge s WHERE s.city = $1 AND s.zone > $2 ORDER BY s.zone LIMIT $3`, city, afterZone, limit)
	if err != nil {
		return nil, wrap(err, "list surges of %s", city)
	}
	zones, err := collectSurges(rows)
	if err != nil {
		return nil, wrap(err, "list surges of %s", city)
	}
	return zones, nil
}

const (
	// lockZoneSQL serializes SetSurge calls on one zone, including the first, when there
	// is no row to lock yet.
	lockZoneSQL     = `SELECT pg_advisory_xact_lock(hashtext('fare.surge'), hashtext($1 || '/' || $2))`
	currentSurgeSQL = `SELECT ` + surgeColumns + ` FROM surge s WHERE s.city = $1 AND s.zone = $2`
	surgeVersionSQL = `SELECT ` + surgeColumns + ` FROM surge_history s WHERE s.city = $1 AND s.zone = $2 AND s.version = $3`
	upsertSurgeSQL  = `INSERT INTO surge (city, zone, multiplier_bps, center_lat, center_lng, radius_meters, expire_time, reason, actor, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (city, zone) DO UPDATE SET multiplier_bps = excluded.multiplier_bps, center_lat = excluded.center_lat,
	center_lng = excluded.center_lng, radius_meters = excluded.radius_meters, expire_time = excluded.expire_time,
	reason = excluded.reason, actor = excluded.actor, update_time = excluded.update_time, version = excluded.version`
	insertSurgeHistorySQL = `INSERT INTO surge_history (city, zone, multiplier_bps, center_lat, center_lng, radius_meters, expire_time, reason, actor, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
)

// SetSurge implements fare.Store. The zone's lock, the read of the current surge and the
// idempotency claim go out in the batch that begins the transaction, so a retry that
// arrives while the first call runs waits for the lock and then replays the version the
// key stores, read from surge_history. The write and the key's completion go out as one
// batch, before the commit.
func (s *Store) SetSurge(ctx context.Context, city, zone string, key idempotency.Key, next fare.SurgeFunc) (fare.Surge, error) {
	var out fare.Surge
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		b := &pgx.Batch{}
		b.Queue(lockZoneSQL, city, zone)
		b.Queue(currentSurgeSQL, city, zone)
		claim := s.keys.Queue(b, key)
		var cur *fare.Surge
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("lock zone %s of %s: %w", zone, city, err)
			}
			z, err := scanSurge(br.QueryRow())
			switch {
			case err == nil:
				cur = &z
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("read surge %s/%s: %w", city, zone, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			v, err := strconv.ParseInt(string(c.Result), 10, 64)
			if err != nil {
				return fmt.Errorf("decode the version stored for request id %q: %w", key.RequestID, err)
			}
			out, err = scanSurge(tx.QueryRow(ctx, surgeVersionSQL, city, zone, v))
			if err != nil {
				return fmt.Errorf("read surge %s/%s version %d, set by the first call with this request id: %w", city, zone, v, err)
			}
			return nil
		}
		n, err := next(cur)
		if err != nil {
			return err
		}
		var lat, lng *float64
		if n.Center != nil {
			lat, lng = &n.Center.Latitude, &n.Center.Longitude
		}
		var expire *time.Time
		if !n.ExpireTime.IsZero() {
			expire = &n.ExpireTime
		}
		args := []any{n.City, n.Zone, n.MultiplierBps, lat, lng, n.RadiusMeters, expire, n.Reason, n.Actor, n.CreateTime, n.UpdateTime, n.Version}
		b = &pgx.Batch{}
		b.Queue(upsertSurgeSQL, args...)
		b.Queue(insertSurgeHistorySQL, args...)
		if err := c.QueueComplete(b, []byte(strconv.FormatInt(n.Version, 10))); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write surge %s/%s version %d: %w", city, zone, n.Version, err)
		}
		out = n
		return nil
	})
	if err != nil {
		return fare.Surge{}, err
	}
	return out, nil
}
