package matchingpg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/matching/matching"
)

const openPickupsSQL = `SELECT pickup_latitude, pickup_longitude FROM match WHERE status IN (1, 2)`

// OpenPickups implements matching.Store.
func (s *Store) OpenPickups(ctx context.Context) ([]matching.Point, error) {
	rows, err := s.pool.Query(ctx, openPickupsSQL)
	if err != nil {
		return nil, wrap(err, "read open pickups")
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (matching.Point, error) {
		var p matching.Point
		err := r.Scan(&p.Lat, &p.Lng)
		return p, err
	})
	if err != nil {
		return nil, wrap(err, "read open pickups")
	}
	return ps, nil
}

const (
	// lockZonesSQL: one replica counts at a time; the others skip the round.
	lockZonesSQL  = `SELECT pg_try_advisory_xact_lock(hashtext('matching.zone_count'))`
	zonesSQL      = `SELECT zone, available_drivers, open_requests, as_of FROM zone_count`
	upsertZoneSQL = `INSERT INTO zone_count (zone, available_drivers, open_requests, as_of) VALUES ($1, $2, $3, $4)
ON CONFLICT (zone) DO UPDATE SET available_drivers = excluded.available_drivers,
	open_requests = excluded.open_requests, as_of = excluded.as_of`
	deleteZoneSQL = `DELETE FROM zone_count WHERE zone = $1`
)

// InZones implements matching.Store.
func (s *Store) InZones(ctx context.Context, fn matching.ZoneFunc) (bool, error) {
	ran := false
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		ran = false
		b := &pgx.Batch{}
		b.Queue(lockZonesSQL)
		b.Queue(zonesSQL)
		br := tx.SendBatch(ctx, b)
		var locked bool
		if err := br.QueryRow().Scan(&locked); err != nil {
			br.Close()
			return fmt.Errorf("lock the zones: %w", err)
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return fmt.Errorf("read the zones: %w", err)
		}
		prev, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (matching.ZoneCount, error) {
			var z matching.ZoneCount
			err := r.Scan(&z.Zone, &z.AvailableDrivers, &z.OpenRequests, &z.AsOf)
			return z, err
		})
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("read the zones: %w", err)
		}
		if !locked {
			return nil
		}
		ran = true
		changed, events, err := fn(prev)
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			return nil
		}
		b = &pgx.Batch{}
		for _, z := range changed {
			if z.AvailableDrivers == 0 && z.OpenRequests == 0 {
				b.Queue(deleteZoneSQL, z.Zone)
			} else {
				b.Queue(upsertZoneSQL, z.Zone, z.AvailableDrivers, z.OpenRequests, z.AsOf)
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("store the zones: %w", err)
		}
		for _, ev := range events {
			e, err := s.event(ev)
			if err != nil {
				return err
			}
			tx.Emit(e)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return ran, nil
}
