package matchingpg

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/services/matching/matching"
)

const trackedSQL = `SELECT ` + driverColumns + driverFrom + ` WHERE d.status <> 1`

// TrackedDrivers implements matching.Store.
func (s *Store) TrackedDrivers(ctx context.Context) ([]matching.Tracked, error) {
	return s.tracked(ctx, trackedSQL)
}

const changedSQL = `SELECT ` + driverColumns + driverFrom + ` WHERE d.update_time >= $1`

// ChangedDrivers implements matching.Store.
func (s *Store) ChangedDrivers(ctx context.Context, since time.Time) ([]matching.Tracked, error) {
	return s.tracked(ctx, changedSQL, since)
}

// tracked reads drivers as the index tracks them: the whole record, which searches
// answer with.
func (s *Store) tracked(ctx context.Context, sql string, args ...any) ([]matching.Tracked, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(err, "read tracked drivers")
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (matching.Tracked, error) {
		d, err := scanDriver(r)
		if err != nil {
			return matching.Tracked{}, err
		}
		return matching.Tracked{ID: d.ID, Status: d.Status, Products: d.Vehicle.Products, Version: d.Version, Location: d.Location, Driver: d}, nil
	})
	if err != nil {
		return nil, wrap(err, "read tracked drivers")
	}
	return ts, nil
}

// saveLocationsSQL upserts a batch of fixes, each only over an older one; fixes of
// drivers that do not exist are skipped.
const saveLocationsSQL = `INSERT INTO driver_location AS l
	(driver_id, latitude, longitude, fix_time, accuracy_meters, heading_degrees, speed_mps, save_time)
SELECT u.driver_id, u.latitude, u.longitude, u.fix_time, u.accuracy, u.heading, u.speed, now()
FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::timestamptz[], $5::float8[], $6::float8[], $7::float8[])
	AS u (driver_id, latitude, longitude, fix_time, accuracy, heading, speed)
WHERE EXISTS (SELECT FROM driver d WHERE d.id = u.driver_id)
ON CONFLICT (driver_id) DO UPDATE SET
	latitude = excluded.latitude, longitude = excluded.longitude, fix_time = excluded.fix_time,
	accuracy_meters = excluded.accuracy_meters, heading_degrees = excluded.heading_degrees,
	speed_mps = excluded.speed_mps, save_time = excluded.save_time
WHERE l.fix_time < excluded.fix_time`

// SaveLocations implements matching.Store: one statement for the whole batch, rows in
// driver id order, so two replicas' concurrent batches lock rows in the same order.
func (s *Store) SaveLocations(ctx context.Context, ps []matching.Position) error {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b matching.Position) int { return cmp.Compare(a.DriverID, b.DriverID) })
	ps = slices.CompactFunc(ps, func(a, b matching.Position) bool { return a.DriverID == b.DriverID })
	n := len(ps)
	var (
		id                       = make([]string, n)
		lat, lng, acc, head, spd = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		fixTime                  = make([]time.Time, n)
	)
	for i, p := range ps {
		f := p.Fix
		id[i], lat[i], lng[i], fixTime[i] = p.DriverID, f.Point.Lat, f.Point.Lng, f.Time
		acc[i], head[i], spd[i] = f.AccuracyMeters, f.HeadingDegrees, f.SpeedMPS
	}
	if _, err := s.pool.Exec(ctx, saveLocationsSQL, id, lat, lng, fixTime, acc, head, spd); err != nil {
		return wrap(err, "save %d driver locations", n)
	}
	return nil
}
