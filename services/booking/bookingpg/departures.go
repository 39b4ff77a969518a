package bookingpg

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/booking/booking"
)

const departureCols = `d.id::text, d.mode, d.carrier, d.number, d.origin, d.destination, d.departure_time,
	d.arrival_time, d.origin_time_zone, d.status, d.sub_status, d.cancel_reason, d.create_time,
	d.update_time, d.version`

func scanDeparture(row pgx.Row) (*booking.Departure, error) {
	var d booking.Departure
	err := row.Scan(&d.ID, &d.Mode, &d.Carrier, &d.Number, &d.Origin, &d.Destination, &d.DepartureTime,
		&d.ArrivalTime, &d.OriginTimeZone, &d.Status, &d.SubStatus, &d.CancelReason, &d.CreateTime,
		&d.UpdateTime, &d.Version)
	return &d, err
}

// queryDepartures runs a departure query and loads the fare classes of the result with
// one more query.
func queryDepartures(ctx context.Context, q txn.Querier, sql string, args ...any) ([]*booking.Departure, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query departures: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*booking.Departure, error) { return scanDeparture(r) })
	if err != nil {
		return nil, fmt.Errorf("scan departures: %w", err)
	}
	if err := loadFareClasses(ctx, q, ds, false); err != nil {
		return nil, err
	}
	return ds, nil
}

// loadFareClasses fills the fare classes of ds, locking them when forUpdate.
func loadFareClasses(ctx context.Context, q txn.Querier, ds []*booking.Departure, forUpdate bool) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]string, len(ds))
	byID := make(map[string]*booking.Departure, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
		byID[d.ID] = d
		d.FareClasses = nil
	}
	sql := fareClassesSQL
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, ids)
	if err != nil {
		return fmt.Errorf("query fare classes: %w", err)
	}
	return scanFareClasses(rows, byID)
}

// fareClassesSQL reads the fare classes of the departures $1 in display order.
const fareClassesSQL = `SELECT departure_id::text, name, display_name, capacity, held, sold, policy
	FROM fare_class WHERE departure_id = ANY($1::uuid[]) ORDER BY departure_id, position`

// scanFareClasses appends the fare classes rows holds to their departures in byID.
func scanFareClasses(rows pgx.Rows, byID map[string]*booking.Departure) error {
	defer rows.Close()
	for rows.Next() {
		var id string
		var fc booking.FareClass
		var policy []byte
		if err := rows.Scan(&id, &fc.Name, &fc.DisplayName, &fc.Capacity, &fc.Held, &fc.Sold, &policy); err != nil {
			return fmt.Errorf("scan fare class: %w", err)
		}
		if err := json.Unmarshal(policy, &fc.Policy.Rules); err != nil {
			return fmt.Errorf("decode fare class policy: %w", err)
		}
		byID[id].FareClasses = append(byID[id].FareClasses, fc)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query fare classes: %w", err)
	}
	return nil
}

// getDeparture reads one departure, locking it and its fare classes when forUpdate.
func getDeparture(ctx context.Context, q txn.Querier, id string, forUpdate bool) (*booking.Departure, error) {
	sql := `SELECT ` + departureCols + ` FROM departure d WHERE d.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	d, err := scanDeparture(q.QueryRow(ctx, sql, id))
	if err != nil {
		return nil, constraints.MapNotFound(err, "departure %s does not exist", id)
	}
	if err := loadFareClasses(ctx, q, []*booking.Departure{d}, forUpdate); err != nil {
		return nil, err
	}
	return d, nil
}

// policyJSON encodes a policy's rules.
func policyJSON(p booking.Policy) []byte {
	if len(p.Rules) == 0 {
		return []byte("[]")
	}
	b, _ := json.Marshal(p.Rules) // plain structs: never fails
	return b
}

// CreateDeparture inserts a departure with its fare classes.
func (s *Store) CreateDeparture(ctx context.Context, d *booking.Departure, key idempotency.Key) (*booking.Departure, error) {
	var out *booking.Departure
	err := s.run(ctx, func(tx *txn.Tx) error {
		c, err := s.keys.BeginWith(ctx, tx, key, []byte(d.ID))
		if err != nil {
			return err
		}
		if c.Replayed {
			out, err = getDeparture(ctx, tx, string(c.Result), false)
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO departure (id, mode, carrier, number, origin, destination, departure_time,
				arrival_time, origin_time_zone, local_date, status, sub_status, create_time, update_time, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			d.ID, d.Mode, d.Carrier, d.Number, d.Origin, d.Destination, d.DepartureTime, d.ArrivalTime,
			d.OriginTimeZone, d.LocalDate().In(time.UTC, 0), d.Status, d.SubStatus, d.CreateTime, d.UpdateTime, d.Version)
		if err != nil {
			return fmt.Errorf("insert departure: %w", err)
		}
		if err := upsertFareClasses(ctx, tx, d); err != nil {
			return err
		}
		out = d
		return s.emit(tx, booking.Event{Type: booking.EventDepartureCreated, Departure: d})
	})
	return out, err
}

// upsertFareClasses writes d's fare classes (never their counters) and deletes the ones
// no longer listed.
func upsertFareClasses(ctx context.Context, tx *txn.Tx, d *booking.Departure) error {
	names := make([]string, len(d.FareClasses))
	for i, fc := range d.FareClasses {
		names[i] = fc.Name
		_, err := tx.Exec(ctx, `
			INSERT INTO fare_class (departure_id, name, position, display_name, capacity, policy)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (departure_id, name) DO UPDATE SET position = excluded.position,
				display_name = excluded.display_name, capacity = excluded.capacity, policy = excluded.policy`,
			d.ID, fc.Name, i, fc.DisplayName, fc.Capacity, policyJSON(fc.Policy))
		if err != nil {
			return fmt.Errorf("write fare class %s: %w", fc.Name, err)
		}
	}
	_, err := tx.Exec(ctx, `DELETE FROM fare_class WHERE departure_id = $1 AND name <> ALL($2::text[]) AND held = 0 AND sold = 0`, d.ID, names)
	if err != nil {
		return fmt.Errorf("delete fare classes: %w", err)
	}
	return nil
}

// GetDeparture reads one departure with its counters, in one round trip: the departure
// and its fare classes are read by two statements sent as one pipelined batch. Every
// hold reads its departure this way, so the round trip matters.
func (s *Store) GetDeparture(ctx context.Context, id string) (*booking.Departure, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT `+departureCols+` FROM departure d WHERE d.id = $1`, id)
	b.Queue(fareClassesSQL, []string{id})
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	d, err := scanDeparture(br.QueryRow())
	if err != nil {
		return nil, constraints.MapNotFound(err, "departure %s does not exist", id)
	}
	d.FareClasses = nil
	rows, err := br.Query()
	if err != nil {
		return nil, mapErr(fmt.Errorf("query fare classes: %w", err))
	}
	if err := scanFareClasses(rows, map[string]*booking.Departure{d.ID: d}); err != nil {
		return nil, mapErr(err)
	}
	if err := br.Close(); err != nil {
		return nil, mapErr(fmt.Errorf("read departure: %w", err))
	}
	return d, nil
}

// where builds a WHERE clause with numbered arguments.
type where struct {
	conds []string
	args  []any
}

// add appends a condition in which "?" stands for the next arguments, in order.
func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// arg appends an argument and returns its placeholder.
func (w *where) arg(a any) string {
	w.args = append(w.args, a)
	return "$" + strconv.Itoa(len(w.args))
}

// String returns the WHERE clause, or "" without conditions.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// storedStatus is the status column of a departure: DEPARTED is derived from the time
// when read, so it is stored as SCHEDULED.
func storedStatus(st booking.DepartureStatus) booking.DepartureStatus {
	if st == booking.DepartureDeparted {
		return booking.DepartureScheduled
	}
	return st
}

// ListDepartures lists departures by departure time then id.
func (s *Store) ListDepartures(ctx context.Context, f booking.DepartureFilter) ([]*booking.Departure, error) {
	var w where
	if f.Mode != booking.ModeUnspecified {
		w.add("d.mode = ?", f.Mode)
	}
	if f.Carrier != "" {
		w.add("d.carrier = ?", f.Carrier)
	}
	if f.Origin != "" {
		w.add("d.origin = ?", f.Origin)
	}
	if f.Destination != "" {
		w.add("d.destination = ?", f.Destination)
	}
	switch f.Status {
	case booking.DepartureScheduled:
		w.add("d.status = 1 AND d.departure_time > ?", f.Now)
	case booking.DepartureDeparted:
		w.add("d.status = 1 AND d.departure_time <= ?", f.Now)
	case booking.DepartureCancelled:
		w.add("d.status = 3")
	}
	if !f.From.IsZero() {
		w.add("d.departure_time >= ?", f.From)
	}
	if !f.To.IsZero() {
		w.add("d.departure_time < ?", f.To)
	}
	if f.After != nil {
		w.add("(d.departure_time, d.id) > (?, ?::uuid)", f.After.Time, f.After.ID)
	}
	sql := `SELECT ` + departureCols + ` FROM departure d` + w.String() + ` ORDER BY d.departure_time, d.id LIMIT ` + w.arg(f.Limit)
	ds, err := queryDepartures(ctx, s.pool, sql, w.args...)
	return ds, mapErr(err)
}

// SearchDepartures finds scheduled departures on a route and local date.
func (s *Store) SearchDepartures(ctx context.Context, q booking.DepartureSearch) ([]*booking.Departure, error) {
	var w where
	w.add("d.origin = ? AND d.destination = ? AND d.local_date = ?", q.Origin, q.Destination, q.Date.In(time.UTC, 0))
	w.add("d.status = 1 AND d.departure_time > ?", q.Now)
	if q.Mode != booking.ModeUnspecified {
		w.add("d.mode = ?", q.Mode)
	}
	if q.After != nil {
		w.add("(d.departure_time, d.id) > (?, ?::uuid)", q.After.Time, q.After.ID)
	}
	sql := `SELECT ` + departureCols + ` FROM departure d` + w.String() + ` ORDER BY d.departure_time, d.id LIMIT ` + w.arg(q.Limit)
	ds, err := queryDepartures(ctx, s.pool, sql, w.args...)
	return ds, mapErr(err)
}

// UpdateDeparture changes a departure under its lock; a schedule change is copied to
// its reservations, each emitting booking.reservation.modified.
func (s *Store) UpdateDeparture(ctx context.Context, id string, key idempotency.Key, fn func(d *booking.Departure) (bool, error)) (*booking.Departure, error) {
	var out *booking.Departure
	err := s.run(ctx, func(tx *txn.Tx) error {
		d, err := getDeparture(ctx, tx, id, true)
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
			out = d
			return nil
		}
		scheduleChanged, err := fn(d)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE departure SET carrier = $2, number = $3, departure_time = $4, arrival_time = $5,
				local_date = $6, status = $7, sub_status = $8, cancel_reason = $9, update_time = $10, version = $11
			WHERE id = $1`,
			d.ID, d.Carrier, d.Number, d.DepartureTime, d.ArrivalTime, d.LocalDate().In(time.UTC, 0),
			storedStatus(d.Status), d.SubStatus, d.CancelReason, d.UpdateTime, d.Version)
		if err != nil {
			return fmt.Errorf("update departure: %w", err)
		}
		if err := upsertFareClasses(ctx, tx, d); err != nil {
			return err
		}
		if scheduleChanged {
			if err := s.copySchedule(ctx, tx, d); err != nil {
				return err
			}
		}
		out = d
		return s.emit(tx, booking.Event{Type: booking.EventDepartureUpdated, Departure: d})
	})
	return out, err
}

// copySchedule updates the service period of d's live reservations to its new times.
func (s *Store) copySchedule(ctx context.Context, tx *txn.Tx, d *booking.Departure) error {
	return s.moveServicePeriods(ctx, tx, `r.departure_id = $1`, d.ID, d.UpdateTime, func(r *booking.Reservation) {
		r.ServiceStart, r.ServiceEnd = d.DepartureTime, d.ArrivalTime
		if r.Status == booking.StatusHeld && r.HoldExpireTime.After(d.DepartureTime) {
			r.HoldExpireTime = d.DepartureTime
		}
	})
}

// moveServicePeriods locks the live reservations that where ($1 = id) selects, lets
// move change their service period, writes them (each one's version rises) and emits
// booking.reservation.modified for each.
func (s *Store) moveServicePeriods(ctx context.Context, tx *txn.Tx, where, id string, at time.Time, move func(r *booking.Reservation)) error {
	rs, err := queryReservations(ctx, tx, reservationSelect+` WHERE `+where+` AND r.status IN (1, 2, 3) ORDER BY r.id FOR UPDATE OF r`, id)
	if err != nil {
		return err
	}
	for _, r := range rs {
		move(r)
		r.UpdateTime = at
		if err := writeReservation(ctx, tx, r); err != nil {
			return err
		}
		if err := s.emit(tx, booking.Event{Type: booking.EventModified, Reservation: r, Previous: r.Status}); err != nil {
			return err
		}
	}
	return nil
}

// CancelDeparture cancels a departure and its live reservations in one transaction.
func (s *Store) CancelDeparture(ctx context.Context, id string, key idempotency.Key, fn func(d *booking.Departure) (bool, error), cancel func(r *booking.Reservation) (booking.Change, error)) (*booking.Departure, int, error) {
	var out *booking.Departure
	count := 0
	err := s.run(ctx, func(tx *txn.Tx) error {
		count = 0
		d, err := getDeparture(ctx, tx, id, true)
		if err != nil {
			return err
		}
		out = d
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
		changed, err := fn(d)
		if err != nil {
			return err
		}
		if !changed {
			return c.Complete(ctx, tx, []byte("0"))
		}
		_, err = tx.Exec(ctx, `UPDATE departure SET status = $2, cancel_reason = $3, update_time = $4, version = $5 WHERE id = $1`,
			d.ID, d.Status, d.CancelReason, d.UpdateTime, d.Version)
		if err != nil {
			return fmt.Errorf("cancel departure: %w", err)
		}
		rs, err := queryReservations(ctx, tx, reservationSelect+` WHERE r.departure_id = $1 AND r.status IN (1, 2) ORDER BY r.id FOR UPDATE OF r`, d.ID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := s.applyChange(ctx, tx, r, cancel); err != nil {
				return err
			}
		}
		count = len(rs)
		if err := loadFareClasses(ctx, tx, []*booking.Departure{d}, false); err != nil {
			return err
		}
		if err := s.emit(tx, booking.Event{Type: booking.EventDepartureCancelled, Departure: d}); err != nil {
			return err
		}
		return c.Complete(ctx, tx, []byte(strconv.Itoa(count)))
	})
	return out, count, err
}
