package bookingpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/booking/booking"
)

const propertyCols = `p.id::text, p.name, p.city, p.address, p.latitude, p.longitude, p.time_zone,
	p.check_in_hour, p.check_out_hour, p.status, p.sub_status, p.close_reason, p.create_time,
	p.update_time, p.version`

func scanProperty(row pgx.Row) (*booking.Property, error) {
	var p booking.Property
	err := row.Scan(&p.ID, &p.Name, &p.City, &p.Address, &p.Latitude, &p.Longitude, &p.TimeZone,
		&p.CheckInHour, &p.CheckOutHour, &p.Status, &p.SubStatus, &p.CloseReason, &p.CreateTime,
		&p.UpdateTime, &p.Version)
	return &p, err
}

// queryProperties runs a property query and loads the room types of the result.
func queryProperties(ctx context.Context, q txn.Querier, sql string, args ...any) ([]*booking.Property, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query properties: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*booking.Property, error) { return scanProperty(r) })
	if err != nil {
		return nil, fmt.Errorf("scan properties: %w", err)
	}
	if err := loadRoomTypes(ctx, q, ps, false); err != nil {
		return nil, err
	}
	return ps, nil
}

// loadRoomTypes fills the room types of ps, locking them when forUpdate.
func loadRoomTypes(ctx context.Context, q txn.Querier, ps []*booking.Property, forUpdate bool) error {
	if len(ps) == 0 {
		return nil
	}
	ids := make([]string, len(ps))
	byID := make(map[string]*booking.Property, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
		byID[p.ID] = p
		p.RoomTypes = nil
	}
	sql := `SELECT property_id::text, name, display_name, nightly_capacity, max_guests, policy
		FROM room_type WHERE property_id = ANY($1::uuid[]) ORDER BY property_id, position`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, ids)
	if err != nil {
		return fmt.Errorf("query room types: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var rt booking.RoomType
		var policy []byte
		if err := rows.Scan(&id, &rt.Name, &rt.DisplayName, &rt.NightlyCapacity, &rt.MaxGuests, &policy); err != nil {
			return fmt.Errorf("scan room type: %w", err)
		}
		if err := json.Unmarshal(policy, &rt.Policy.Rules); err != nil {
			return fmt.Errorf("decode room type policy: %w", err)
		}
		byID[id].RoomTypes = append(byID[id].RoomTypes, rt)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query room types: %w", err)
	}
	return nil
}

func getProperty(ctx context.Context, q txn.Querier, id string, forUpdate bool) (*booking.Property, error) {
	sql := `SELECT ` + propertyCols + ` FROM property p WHERE p.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	p, err := scanProperty(q.QueryRow(ctx, sql, id))
	if err != nil {
		return nil, constraints.MapNotFound(err, "property %s does not exist", id)
	}
	if err := loadRoomTypes(ctx, q, []*booking.Property{p}, forUpdate); err != nil {
		return nil, err
	}
	return p, nil
}

// CreateProperty inserts a property with its room types.
func (s *Store) CreateProperty(ctx context.Context, p *booking.Property, key idempotency.Key) (*booking.Property, error) {
	var out *booking.Property
	err := s.run(ctx, func(tx *txn.Tx) error {
		c, err := s.keys.BeginWith(ctx, tx, key, []byte(p.ID))
		if err != nil {
			return err
		}
		if c.Replayed {
			out, err = getProperty(ctx, tx, string(c.Result), false)
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO property (id, name, city, address, latitude, longitude, time_zone, check_in_hour,
				check_out_hour, status, sub_status, create_time, update_time, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			p.ID, p.Name, p.City, p.Address, p.Latitude, p.Longitude, p.TimeZone, p.CheckInHour,
			p.CheckOutHour, p.Status, p.SubStatus, p.CreateTime, p.UpdateTime, p.Version)
		if err != nil {
			return fmt.Errorf("insert property: %w", err)
		}
		for i, rt := range p.RoomTypes {
			if err := upsertRoomType(ctx, tx, p.ID, i, rt); err != nil {
				return err
			}
		}
		out = p
		return s.emit(tx, booking.Event{Type: booking.EventPropertyCreated, Property: p})
	})
	return out, err
}

func upsertRoomType(ctx context.Context, tx *txn.Tx, propertyID string, pos int, rt booking.RoomType) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO room_type (property_id, name, position, display_name, nightly_capacity, max_guests, policy)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (property_id, name) DO UPDATE SET position = excluded.position,
			display_name = excluded.display_name, nightly_capacity = excluded.nightly_capacity,
			max_guests = excluded.max_guests, policy = excluded.policy`,
		propertyID, rt.Name, pos, rt.DisplayName, rt.NightlyCapacity, rt.MaxGuests, policyJSON(rt.Policy))
	if err != nil {
		return fmt.Errorf("write room type %s: %w", rt.Name, err)
	}
	return nil
}

// GetProperty reads one property.
func (s *Store) GetProperty(ctx context.Context, id string) (*booking.Property, error) {
	return getProperty(ctx, s.pool, id, false)
}

// ListProperties lists properties by city, name, then id.
func (s *Store) ListProperties(ctx context.Context, f booking.PropertyFilter) ([]*booking.Property, error) {
	var w where
	if f.City != "" {
		w.add("p.city = ?", f.City)
	}
	if f.Status != booking.PropertyUnspecified {
		w.add("p.status = ?", f.Status)
	}
	if f.After != nil {
		w.add("(p.city, p.name, p.id) > (?, ?, ?::uuid)", f.After.City, f.After.Name, f.After.ID)
	}
	sql := `SELECT ` + propertyCols + ` FROM property p` + w.String() + ` ORDER BY p.city, p.name, p.id LIMIT ` + w.arg(f.Limit)
	ps, err := queryProperties(ctx, s.pool, sql, w.args...)
	return ps, mapErr(err)
}

// UpdateProperty changes a property under its lock. Future nights follow the new nightly
// capacities (the overbooking CHECK refuses a capacity below what is reserved), removed
// room types must have nothing reserved ahead, and new check-in or check-out hours move
// the service periods of live stays.
func (s *Store) UpdateProperty(ctx context.Context, id string, key idempotency.Key, today func(p *booking.Property) booking.Date, fn func(p *booking.Property) error) (*booking.Property, error) {
	var out *booking.Property
	err := s.run(ctx, func(tx *txn.Tx) error {
		p, err := getProperty(ctx, tx, id, true)
		if err != nil {
			return err
		}
		// The claim follows the locks, so a retry racing the first call waits for it
		// and then replays.
		c, err := s.keys.BeginWith(ctx, tx, key, []byte(id))
		if err != nil {
			return err
		}
		if c.Replayed {
			out = p
			return nil
		}
		oldIn, oldOut := p.CheckInHour, p.CheckOutHour
		if err := fn(p); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE property SET name = $2, address = $3, latitude = $4, longitude = $5, check_in_hour = $6,
				check_out_hour = $7, sub_status = $8, update_time = $9, version = $10
			WHERE id = $1`,
			p.ID, p.Name, p.Address, p.Latitude, p.Longitude, p.CheckInHour, p.CheckOutHour, p.SubStatus,
			p.UpdateTime, p.Version)
		if err != nil {
			return fmt.Errorf("update property: %w", err)
		}
		from := today(p).In(time.UTC, 0)
		names := make([]string, len(p.RoomTypes))
		for i, rt := range p.RoomTypes {
			names[i] = rt.Name
			if err := upsertRoomType(ctx, tx, p.ID, i, rt); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE room_night SET capacity = $3 WHERE property_id = $1 AND room_type = $2 AND night >= $4 AND capacity <> $3`,
				p.ID, rt.Name, rt.NightlyCapacity, from)
			if err != nil {
				if errors.Is(mapErr(err), booking.ErrInsufficientAvailability) {
					return errs.Precondition(booking.ReasonInUse, "room type %q has more rooms reserved on a future night than the new capacity", rt.Name).WithCause(err)
				}
				return fmt.Errorf("update nightly capacity: %w", err)
			}
		}
		var inUse string
		err = tx.QueryRow(ctx, `
			SELECT room_type FROM room_night
			WHERE property_id = $1 AND room_type <> ALL($2::text[]) AND night >= $3 AND held + sold > 0 LIMIT 1`,
			p.ID, names, from).Scan(&inUse)
		switch {
		case err == nil:
			return errs.Precondition(booking.ReasonInUse, "room type %q has future reservations and cannot be removed", inUse)
		case !isNoRows(err):
			return fmt.Errorf("check removed room types: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM room_night WHERE property_id = $1 AND room_type <> ALL($2::text[])`, p.ID, names); err != nil {
			return fmt.Errorf("delete room nights: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM room_type WHERE property_id = $1 AND name <> ALL($2::text[])`, p.ID, names); err != nil {
			return fmt.Errorf("delete room types: %w", err)
		}
		if p.CheckInHour != oldIn || p.CheckOutHour != oldOut {
			loc := p.Location()
			err := s.moveServicePeriods(ctx, tx, `r.property_id = $1`, p.ID, p.UpdateTime, func(r *booking.Reservation) {
				r.ServiceStart = r.Stay.CheckIn.In(loc, p.CheckInHour)
				r.ServiceEnd = r.Stay.CheckOut.In(loc, p.CheckOutHour)
			})
			if err != nil {
				return fmt.Errorf("move stay periods: %w", err)
			}
		}
		out = p
		return s.emit(tx, booking.Event{Type: booking.EventPropertyUpdated, Property: p})
	})
	return out, err
}

// CloseProperty closes a property and cancels its live reservations in one transaction.
func (s *Store) CloseProperty(ctx context.Context, id string, key idempotency.Key, fn func(p *booking.Property) (bool, error), cancel func(r *booking.Reservation) (booking.Change, error)) (*booking.Property, int, error) {
	var out *booking.Property
	count := 0
	err := s.run(ctx, func(tx *txn.Tx) error {
		count = 0
		p, err := getProperty(ctx, tx, id, true)
		if err != nil {
			return err
		}
		out = p
		// The claim follows the locks, so a retry racing the first call waits for it
		// and then replays. Its result is the number of reservations cancelled.
		c, err := s.keys.Begin(ctx, tx, key)
		if err != nil {
			return err
		}
		if c.Replayed {
			count, err = strconv.Atoi(string(c.Result))
			return err
		}
		changed, err := fn(p)
		if err != nil {
			return err
		}
		if !changed {
			return c.Complete(ctx, tx, []byte("0"))
		}
		_, err = tx.Exec(ctx, `UPDATE property SET status = $2, close_reason = $3, update_time = $4, version = $5 WHERE id = $1`,
			p.ID, p.Status, p.CloseReason, p.UpdateTime, p.Version)
		if err != nil {
			return fmt.Errorf("close property: %w", err)
		}
		rs, err := queryReservations(ctx, tx, reservationSelect+` WHERE r.property_id = $1 AND r.status IN (1, 2) ORDER BY r.id FOR UPDATE OF r`, p.ID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := s.applyChange(ctx, tx, r, cancel); err != nil {
				return err
			}
		}
		count = len(rs)
		if err := s.emit(tx, booking.Event{Type: booking.EventPropertyClosed, Property: p}); err != nil {
			return err
		}
		return c.Complete(ctx, tx, []byte(strconv.Itoa(count)))
	})
	return out, count, err
}

// availabilitySQL computes, per room type of the given properties, the rooms free on every
// night of [$2, $3): nights nobody reserved yet have the room type's nightly capacity.
const availabilitySQL = `
	SELECT rt.property_id::text, rt.name,
		min(coalesce(n.capacity - n.held - n.sold, rt.nightly_capacity))::int
	FROM room_type rt
	CROSS JOIN generate_series($2::date, $3::date - 1, interval '1 day') AS g(night)
	LEFT JOIN room_night n ON n.property_id = rt.property_id AND n.room_type = rt.name AND n.night = g.night::date
	WHERE rt.property_id = ANY($1::uuid[])
	GROUP BY rt.property_id, rt.name`

func availability(ctx context.Context, q txn.Querier, ids []string, in, out booking.Date) (map[string]map[string]int, error) {
	rows, err := q.Query(ctx, availabilitySQL, ids, in.In(time.UTC, 0), out.In(time.UTC, 0))
	if err != nil {
		return nil, fmt.Errorf("query availability: %w", err)
	}
	defer rows.Close()
	res := map[string]map[string]int{}
	for rows.Next() {
		var pid, name string
		var free int
		if err := rows.Scan(&pid, &name, &free); err != nil {
			return nil, fmt.Errorf("scan availability: %w", err)
		}
		if res[pid] == nil {
			res[pid] = map[string]int{}
		}
		res[pid][name] = max(free, 0)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query availability: %w", err)
	}
	return res, nil
}

// SearchStays finds active properties in a city with each room type's availability.
func (s *Store) SearchStays(ctx context.Context, q booking.StaySearch) ([]*booking.Property, error) {
	var w where
	w.add("p.city = ? AND p.status = 1", q.City)
	if q.After != nil {
		w.add("(p.name, p.id) > (?, ?::uuid)", q.After.Name, q.After.ID)
	}
	sql := `SELECT ` + propertyCols + ` FROM property p` + w.String() + ` ORDER BY p.name, p.id LIMIT ` + w.arg(q.Limit)
	ps, err := queryProperties(ctx, s.pool, sql, w.args...)
	if err != nil || len(ps) == 0 {
		return ps, mapErr(err)
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	avail, err := availability(ctx, s.pool, ids, q.CheckIn, q.CheckOut)
	if err != nil {
		return nil, mapErr(err)
	}
	for _, p := range ps {
		for i := range p.RoomTypes {
			p.RoomTypes[i].Available = avail[p.ID][p.RoomTypes[i].Name]
		}
	}
	return ps, nil
}

// RoomAvailability returns the rooms free on every night per room type of a property.
func (s *Store) RoomAvailability(ctx context.Context, propertyID string, in, out booking.Date) (map[string]int, error) {
	avail, err := availability(ctx, s.pool, []string{propertyID}, in, out)
	if err != nil {
		return nil, mapErr(err)
	}
	return avail[propertyID], nil
}
