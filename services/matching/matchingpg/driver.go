package matchingpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/matching/matching"
)

// driverColumns are the columns scanDriver reads: driver d left joined with its
// location l.
const driverColumns = `d.id::text, d.name, d.city, d.vehicle_plate, d.vehicle_model, d.products,
	d.status, d.sub_status, coalesce(d.current_match_id::text, ''), coalesce(d.current_trip_id, ''),
	d.create_time, d.update_time, d.version,
	l.latitude, l.longitude, l.fix_time, l.accuracy_meters, l.heading_degrees, l.speed_mps`

// driverFrom is the FROM clause driverColumns read.
const driverFrom = ` FROM driver d LEFT JOIN driver_location l ON l.driver_id = d.id`

// scanDriver reads driverColumns.
func scanDriver(row pgx.Row) (matching.Driver, error) {
	var (
		d                      matching.Driver
		lat, lng, acc, hd, spd *float64
		fixTime                *time.Time
	)
	err := row.Scan(&d.ID, &d.Name, &d.City, &d.Vehicle.Plate, &d.Vehicle.Model, &d.Vehicle.Products,
		&d.Status, &d.SubStatus, &d.CurrentMatchID, &d.CurrentTripID,
		&d.CreateTime, &d.UpdateTime, &d.Version,
		&lat, &lng, &fixTime, &acc, &hd, &spd)
	if err != nil {
		return matching.Driver{}, err
	}
	d.CreateTime, d.UpdateTime = d.CreateTime.UTC(), d.UpdateTime.UTC()
	if fixTime != nil {
		d.Location = &matching.Fix{Point: matching.Point{Lat: *lat, Lng: *lng}, Time: fixTime.UTC(),
			AccuracyMeters: *acc, HeadingDegrees: *hd, SpeedMPS: *spd}
	}
	return d, nil
}

func collectDrivers(rows pgx.Rows) ([]matching.Driver, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (matching.Driver, error) { return scanDriver(r) })
}

const (
	// lockPlateSQL serializes the creates of one plate in one city until the end of the
	// transaction, so a retry racing its first call waits for it and replays.
	lockPlateSQL    = `SELECT pg_advisory_xact_lock(hashtext('matching.driver_plate'), hashtext($1 || '/' || upper($2)))`
	insertDriverSQL = `INSERT INTO driver (id, name, city, vehicle_plate, vehicle_model, products, status, sub_status,
	create_time, update_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
)

// CreateDriver implements matching.Store. The plate's lock, then the idempotency claim
// (which stores the new driver as the key's result in the same statement), go out in
// the batch that begins the transaction; the insert follows unless the claim replays.
func (s *Store) CreateDriver(ctx context.Context, d matching.Driver, key idempotency.Key) (matching.Driver, error) {
	result, err := encodeResult(d)
	if err != nil {
		return matching.Driver{}, err
	}
	var out matching.Driver
	err = s.tx.Run(ctx, func(tx *txn.Tx) error {
		b := &pgx.Batch{}
		b.Queue(lockPlateSQL, d.City, d.Vehicle.Plate)
		claim := s.keys.QueueWith(b, key, result)
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			out, err = decodeResult(c.Result, key.RequestID)
			return err
		}
		if _, err := tx.Exec(ctx, insertDriverSQL, d.ID, d.Name, d.City, d.Vehicle.Plate, d.Vehicle.Model, d.Vehicle.Products,
			d.Status, d.SubStatus, d.CreateTime, d.UpdateTime, d.Version); err != nil {
			return constraints.Map(fmt.Errorf("insert driver: %w", err))
		}
		out = d
		return nil
	})
	if err != nil {
		return matching.Driver{}, err
	}
	return out, nil
}

const driverSQL = `SELECT ` + driverColumns + driverFrom + ` WHERE d.id = $1`

// Driver implements matching.Store.
func (s *Store) Driver(ctx context.Context, id string) (matching.Driver, error) {
	if !ids.ValidUUID(id) {
		return matching.Driver{}, errs.Missing("", "driver %q not found", id)
	}
	d, err := scanDriver(s.pool.QueryRow(ctx, driverSQL, id))
	if err != nil {
		return matching.Driver{}, pgxutil.MapNotFound(err, "driver %s not found", id)
	}
	return d, nil
}

const listDriversSQL = `SELECT ` + driverColumns + driverFrom + `
WHERE (@city::text = '' OR d.city = @city)
  AND (@status::smallint = 0 OR d.status = @status)
  AND (@after_id::uuid IS NULL OR (d.create_time, d.id) > (@after_time, @after_id))
ORDER BY d.create_time, d.id
LIMIT @limit`

// ListDrivers implements matching.Store.
func (s *Store) ListDrivers(ctx context.Context, f matching.DriverFilter, after *matching.DriverCursor, limit int) ([]matching.Driver, error) {
	args := pgx.NamedArgs{"city": f.City, "status": int16(f.Status), "after_time": nil, "after_id": nil, "limit": limit}
	if after != nil {
		args["after_time"], args["after_id"] = after.CreateTime, after.ID
	}
	rows, err := s.pool.Query(ctx, listDriversSQL, args)
	if err != nil {
		return nil, wrap(err, "list drivers")
	}
	ds, err := collectDrivers(rows)
	if err != nil {
		return nil, wrap(err, "list drivers")
	}
	return ds, nil
}

const (
	// lockDriverSQL reads and locks a driver. FOR NO KEY UPDATE: the location flusher's
	// foreign-key checks (KEY SHARE) do not wait for it.
	lockDriverSQL   = `SELECT ` + driverColumns + driverFrom + ` WHERE d.id = $1 FOR NO KEY UPDATE OF d`
	updateDriverSQL = `UPDATE driver SET name = $2, city = $3, vehicle_plate = $4, vehicle_model = $5, products = $6,
	status = $7, sub_status = $8, current_match_id = nullif($9, '')::uuid, current_trip_id = nullif($10, ''),
	update_time = $11, version = $12
WHERE id = $1`
)

// UpdateDriver implements matching.Store. The driver's row is locked first, so changes
// of one driver are numbered, and their events sequenced, in commit order; the
// idempotency claim follows in the same batch, so a retry that arrives while the first
// call runs waits for the lock and then replays the driver the key stores. The update,
// the key's completion and the events go out with the commit.
func (s *Store) UpdateDriver(ctx context.Context, id string, key idempotency.Key, next matching.DriverFunc) (matching.Driver, error) {
	if !ids.ValidUUID(id) {
		return matching.Driver{}, errs.Missing("", "driver %q not found", id)
	}
	var out matching.Driver
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		b := &pgx.Batch{}
		b.Queue(lockDriverSQL, id)
		claim := s.keys.Queue(b, key)
		var cur matching.Driver
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			var err error
			if cur, err = scanDriver(br.QueryRow()); errors.Is(err, pgx.ErrNoRows) {
				return errs.Missing("", "driver %s not found", id)
			} else if err != nil {
				return fmt.Errorf("lock driver %s: %w", id, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			out, err = decodeResult(c.Result, key.RequestID)
			return err
		}
		ch, err := next(cur)
		if err != nil {
			return err
		}
		result, err := encodeResult(ch.Driver)
		if err != nil {
			return err
		}
		if !ch.Write {
			// Nothing changes: only the key's completion, with the commit.
			tx.BeforeCommit(func(b *pgx.Batch) error { return c.QueueComplete(b, result) })
			out = ch.Driver
			return nil
		}
		d := ch.Driver
		b = &pgx.Batch{}
		b.Queue(updateDriverSQL, id, d.Name, d.City, d.Vehicle.Plate, d.Vehicle.Model, d.Vehicle.Products,
			d.Status, d.SubStatus, d.CurrentMatchID, d.CurrentTripID, d.UpdateTime, d.Version)
		if err := c.QueueComplete(b, result); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return constraints.Map(fmt.Errorf("update driver %s: %w", id, err))
		}
		for _, ev := range ch.Events {
			e, err := s.event(ev)
			if err != nil {
				return err
			}
			tx.Emit(e)
		}
		out = ch.Driver
		return nil
	})
	if err != nil {
		return matching.Driver{}, err
	}
	return out, nil
}
