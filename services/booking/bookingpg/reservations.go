package bookingpg

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/services/booking/booking"
)

// reservationSelect reads reservations with the departure or property fields they show.
const reservationSelect = `
	SELECT r.id::text, r.customer_id, coalesce(r.request_id, ''), r.kind,
		coalesce(r.departure_id::text, ''), coalesce(r.fare_class, ''),
		coalesce(r.property_id::text, ''), coalesce(r.room_type, ''), r.check_in_date, r.check_out_date,
		coalesce(r.guest_count, 0), r.quantity, r.travelers, r.price_minor, r.currency, r.rate_card_id,
		r.rate_version, r.quote_id, r.hold_expire_time, r.status, r.sub_status, r.policy, r.cancel_time,
		r.cancel_reason, r.cancel_actor, r.refundable_minor, r.service_start, r.service_end, r.history,
		r.create_time, r.update_time, r.version,
		coalesce(d.mode, 0), coalesce(d.carrier, ''), coalesce(d.number, ''), coalesce(d.origin, ''),
		coalesce(d.destination, ''), d.departure_time, d.arrival_time,
		coalesce(p.name, ''), coalesce(p.city, '')
	FROM reservation r
	LEFT JOIN departure d ON d.id = r.departure_id
	LEFT JOIN property p ON p.id = r.property_id`

func scanReservation(row pgx.Row) (*booking.Reservation, error) {
	var (
		r                          booking.Reservation
		departureID, fareClass     string
		propertyID, roomType       string
		checkIn, checkOut          *time.Time
		guestCount                 int
		holdExpire, cancelTime     *time.Time
		cancelReason, cancelActor  string
		refundable                 *int64
		policy, history            []byte
		mode                       booking.Mode
		carrier, number            string
		origin, destination        string
		depTime, arrTime           *time.Time
		propertyName, propertyCity string
	)
	err := row.Scan(&r.ID, &r.CustomerID, &r.RequestID, &r.Kind, &departureID, &fareClass,
		&propertyID, &roomType, &checkIn, &checkOut, &guestCount, &r.Quantity, &r.Travelers,
		&r.Price.Amount, &r.Price.Currency, &r.RateCardID, &r.RateVersion, &r.QuoteID, &holdExpire,
		&r.Status, &r.SubStatus, &policy, &cancelTime, &cancelReason, &cancelActor, &refundable,
		&r.ServiceStart, &r.ServiceEnd, &history, &r.CreateTime, &r.UpdateTime, &r.Version,
		&mode, &carrier, &number, &origin, &destination, &depTime, &arrTime, &propertyName, &propertyCity)
	if err != nil {
		return nil, err
	}
	if departureID != "" {
		r.Seat = &booking.SeatItem{DepartureID: departureID, FareClass: fareClass, Mode: mode, Carrier: carrier,
			Number: number, Origin: origin, Destination: destination}
		if depTime != nil {
			r.Seat.DepartureTime, r.Seat.ArrivalTime = *depTime, *arrTime
		}
	}
	if propertyID != "" {
		r.Stay = &booking.StayItem{PropertyID: propertyID, RoomType: roomType, GuestCount: guestCount,
			PropertyName: propertyName, City: propertyCity}
		if checkIn != nil && checkOut != nil {
			r.Stay.CheckIn, r.Stay.CheckOut = booking.DateOf(checkIn.UTC()), booking.DateOf(checkOut.UTC())
		}
	}
	if holdExpire != nil {
		r.HoldExpireTime = *holdExpire
	}
	if cancelTime != nil {
		r.Cancellation = &booking.Cancellation{Time: *cancelTime, Reason: cancelReason, Actor: cancelActor,
			Refundable: booking.Money{Currency: r.Price.Currency}}
		if refundable != nil {
			r.Cancellation.Refundable.Amount = *refundable
		}
	}
	if err := json.Unmarshal(policy, &r.Policy.Rules); err != nil {
		return nil, fmt.Errorf("decode reservation policy: %w", err)
	}
	if err := json.Unmarshal(history, &r.History); err != nil {
		return nil, fmt.Errorf("decode reservation history: %w", err)
	}
	return &r, nil
}

func queryReservations(ctx context.Context, q querier, sql string, args ...any) ([]*booking.Reservation, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query reservations: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*booking.Reservation, error) { return scanReservation(r) })
	if err != nil {
		return nil, fmt.Errorf("scan reservations: %w", err)
	}
	return rs, nil
}

func getReservation(ctx context.Context, q querier, id string, forUpdate bool) (*booking.Reservation, error) {
	sql := reservationSelect + ` WHERE r.id = $1`
	if forUpdate {
		sql += ` FOR UPDATE OF r`
	}
	r, err := scanReservation(q.QueryRow(ctx, sql, id))
	if err != nil {
		return nil, mapErr(err)
	}
	return r, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func historyJSON(h []booking.StatusChange) []byte {
	if len(h) == 0 {
		return []byte("[]")
	}
	b, _ := json.Marshal(h) // plain structs: never fails
	return b
}

// updateReservationSQL stores the mutable fields of a reservation and bumps its version;
// its arguments are reservationArgs.
const updateReservationSQL = `
	UPDATE reservation SET status = $2, sub_status = $3, travelers = $4, hold_expire_time = $5,
		cancel_time = $6, cancel_reason = $7, cancel_actor = $8, refundable_minor = $9,
		service_start = $10, service_end = $11, history = $12, update_time = $13, version = version + 1
	WHERE id = $1
	RETURNING version`

// reservationArgs are updateReservationSQL's arguments for r.
func reservationArgs(r *booking.Reservation) []any {
	var cancelTime *time.Time
	var cancelReason, cancelActor string
	var refundable *int64
	if c := r.Cancellation; c != nil {
		cancelTime, cancelReason, cancelActor = &c.Time, c.Reason, c.Actor
		refundable = &c.Refundable.Amount
	}
	return []any{r.ID, r.Status, r.SubStatus, r.Travelers, nullTime(r.HoldExpireTime), cancelTime, cancelReason,
		cancelActor, refundable, r.ServiceStart, r.ServiceEnd, historyJSON(r.History), r.UpdateTime}
}

// writeReservation stores the mutable fields of r and bumps its version.
func writeReservation(ctx context.Context, tx *txn, r *booking.Reservation) error {
	if err := tx.QueryRow(ctx, updateReservationSQL, reservationArgs(r)...).Scan(&r.Version); err != nil {
		return fmt.Errorf("update reservation: %w", err)
	}
	return nil
}

// seatCountersSQL moves a fare class's counters: $1 departure, $2 fare class, $3 held, $4 sold.
const seatCountersSQL = `UPDATE fare_class SET held = held + $3, sold = sold + $4 WHERE departure_id = $1 AND name = $2`

// nightCountersSQL moves the counters of a stay's nights: $1 property, $2 room type, $3
// check-in, $4 check-out, $5 held, $6 sold.
const nightCountersSQL = `
	UPDATE room_night SET held = held + $5, sold = sold + $6
	WHERE property_id = $1 AND room_type = $2 AND night >= $3 AND night < $4`

// applyChange runs a domain change on a locked reservation and persists its effects as
// a batch of one does (writeBatch): the reservation's row and its counters, in one round
// trip.
func applyChange(ctx context.Context, tx *txn, r *booking.Reservation, fn func(r *booking.Reservation) (booking.Change, error), emit func(...booking.Event)) error {
	ch, err := fn(r)
	if err != nil || ch.None {
		return err
	}
	if err := writeBatch(ctx, tx, []booking.BatchChange{{Reservation: r, Change: ch}}); err != nil {
		return err
	}
	emit(booking.Event{Type: ch.Event, Reservation: r, Previous: ch.Previous})
	return nil
}

// Hold inserts a HELD reservation and takes its units from the counters in the same
// transaction; the counter update's WHERE clause is the capacity check.
func (s *Store) Hold(ctx context.Context, r *booking.Reservation) (*booking.Reservation, error) {
	err := s.inTx(ctx, func(tx *txn, emit func(...booking.Event)) error {
		if r.Seat != nil {
			if err := holdSeats(ctx, tx, r); err != nil {
				return err
			}
			emit(booking.Event{Type: booking.EventHeld, Reservation: r})
			return nil
		}
		// A share lock on the property: a concurrent closure (which takes FOR UPDATE)
		// either sees this hold or makes it fail here.
		var status booking.PropertyStatus
		err := tx.QueryRow(ctx, `SELECT status FROM property WHERE id = $1 FOR SHARE`, r.Stay.PropertyID).Scan(&status)
		if err != nil {
			return mapErr(err)
		}
		if status != booking.PropertyActive {
			return booking.Precondition(booking.ReasonNotOnSale, "the property is closed")
		}
		if err := insertReservation(ctx, tx, r); err != nil {
			return err
		}
		if err := holdNights(ctx, tx, r); err != nil {
			return err
		}
		emit(booking.Event{Type: booking.EventHeld, Reservation: r})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// holdNights takes r's rooms on every night of its stay, or on none: the counter rows
// are created with the room type's capacity if missing, locked in night order (so
// overlapping stays never deadlock), and updated in one statement whose WHERE clause is
// the capacity check; fewer rows updated than nights means a full night, and the caller's
// transaction is rolled back.
func holdNights(ctx context.Context, tx *txn, r *booking.Reservation) error {
	in, out := r.Stay.CheckIn.In(time.UTC, 0), r.Stay.CheckOut.In(time.UTC, 0)
	_, err := tx.Exec(ctx, `
		INSERT INTO room_night (property_id, room_type, night, capacity)
		SELECT rt.property_id, rt.name, g.night::date, rt.nightly_capacity
		FROM room_type rt, generate_series($3::date, $4::date - 1, interval '1 day') AS g(night)
		WHERE rt.property_id = $1 AND rt.name = $2
		ORDER BY g.night
		ON CONFLICT DO NOTHING`,
		r.Stay.PropertyID, r.Stay.RoomType, in, out)
	if err != nil {
		return fmt.Errorf("create room nights: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		WITH locked AS (
			SELECT night FROM room_night
			WHERE property_id = $1 AND room_type = $2 AND night >= $3 AND night < $4
			ORDER BY night FOR UPDATE
		)
		UPDATE room_night n SET held = n.held + $5
		FROM locked
		WHERE n.property_id = $1 AND n.room_type = $2 AND n.night = locked.night
			AND n.held + n.sold + $5 <= n.capacity`,
		r.Stay.PropertyID, r.Stay.RoomType, in, out, r.Quantity)
	if err != nil {
		return fmt.Errorf("hold rooms: %w", err)
	}
	if int(tag.RowsAffected()) != r.Stay.Nights() {
		return booking.ErrInsufficientAvailability
	}
	return nil
}

// holdSeatsSQL takes a seat hold's units from its fare class; the WHERE clause is the
// capacity check: $1 departure, $2 fare class, $3 quantity.
const holdSeatsSQL = `
	UPDATE fare_class SET held = held + $3
	WHERE departure_id = $1 AND name = $2 AND held + sold + $3 <= capacity`

// holdSeats writes a seat hold in tx with one round trip: a share lock on the departure
// (a concurrent cancellation, which takes FOR UPDATE, either sees this hold or makes it
// fail here), the reservation's row, and the counter update whose WHERE clause is the
// capacity check, sent together as one pipelined batch. PostgreSQL runs them in order;
// when the departure turns out not to be on sale, the caller's transaction rolls the
// other two back.
func holdSeats(ctx context.Context, tx *txn, r *booking.Reservation) error {
	sql, args := insertReservationSQL(r)
	b := &pgx.Batch{}
	b.Queue(`SELECT status, departure_time FROM departure WHERE id = $1 FOR SHARE`, r.Seat.DepartureID)
	b.Queue(sql, args...)
	b.Queue(holdSeatsSQL, r.Seat.DepartureID, r.Seat.FareClass, r.Quantity)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var status booking.DepartureStatus
	var at time.Time
	if err := br.QueryRow().Scan(&status, &at); err != nil {
		return mapErr(err)
	}
	if status != booking.DepartureScheduled || !at.After(r.CreateTime) {
		return booking.Precondition(booking.ReasonNotOnSale, "the departure is not on sale")
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("insert reservation: %w", err)
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("hold seats: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return booking.ErrInsufficientAvailability
	}
	return br.Close()
}

func insertReservation(ctx context.Context, tx *txn, r *booking.Reservation) error {
	sql, args := insertReservationSQL(r)
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("insert reservation: %w", err)
	}
	return nil
}

// insertReservationSQL returns the statement inserting r and its arguments.
func insertReservationSQL(r *booking.Reservation) (string, []any) {
	var (
		departureID, fareClass, propertyID, roomType *string
		checkIn, checkOut                            *time.Time
		guestCount                                   *int
		requestID                                    *string
	)
	if r.Seat != nil {
		departureID, fareClass = &r.Seat.DepartureID, &r.Seat.FareClass
	} else {
		propertyID, roomType = &r.Stay.PropertyID, &r.Stay.RoomType
		in, out := r.Stay.CheckIn.In(time.UTC, 0), r.Stay.CheckOut.In(time.UTC, 0)
		checkIn, checkOut, guestCount = &in, &out, &r.Stay.GuestCount
	}
	if r.RequestID != "" {
		requestID = &r.RequestID
	}
	return `
		INSERT INTO reservation (id, customer_id, request_id, kind, departure_id, fare_class, property_id,
			room_type, check_in_date, check_out_date, guest_count, quantity, travelers, price_minor, currency,
			rate_card_id, rate_version, quote_id, hold_expire_time, status, sub_status, policy, service_start,
			service_end, history, create_time, update_time, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27, $28)`,
		[]any{r.ID, r.CustomerID, requestID, r.Kind, departureID, fareClass, propertyID, roomType, checkIn,
			checkOut, guestCount, r.Quantity, r.Travelers, r.Price.Amount, r.Price.Currency, r.RateCardID,
			r.RateVersion, r.QuoteID, nullTime(r.HoldExpireTime), r.Status, r.SubStatus, policyJSON(r.Policy),
			r.ServiceStart, r.ServiceEnd, historyJSON(r.History), r.CreateTime, r.UpdateTime, r.Version}
}

// FindReservationByRequest finds a customer's reservation by its create request id.
func (s *Store) FindReservationByRequest(ctx context.Context, customerID, requestID string) (*booking.Reservation, error) {
	r, err := scanReservation(s.pool.QueryRow(ctx, reservationSelect+` WHERE r.customer_id = $1 AND r.request_id = $2`, customerID, requestID))
	if err != nil {
		return nil, mapErr(err)
	}
	return r, nil
}

// GetReservation reads one reservation.
func (s *Store) GetReservation(ctx context.Context, id string) (*booking.Reservation, error) {
	return getReservation(ctx, s.pool, id, false)
}

// GetReservations reads every reservation of ids that exists, with one query.
func (s *Store) GetReservations(ctx context.Context, ids []string) ([]*booking.Reservation, error) {
	return queryReservations(ctx, s.pool, reservationSelect+` WHERE r.id = ANY($1::uuid[])`, ids)
}

// ListReservations lists reservations newest first.
func (s *Store) ListReservations(ctx context.Context, f booking.ReservationFilter) ([]*booking.Reservation, error) {
	var w where
	if f.CustomerID != "" {
		w.add("r.customer_id = ?", f.CustomerID)
	}
	if len(f.Statuses) > 0 {
		sts := make([]int16, len(f.Statuses))
		for i, st := range f.Statuses {
			sts[i] = int16(st)
		}
		w.add("r.status = ANY(?::smallint[])", sts)
	}
	if f.Kind != booking.KindUnspecified {
		w.add("r.kind = ?", f.Kind)
	}
	if f.DepartureID != "" {
		w.add("r.departure_id = ?::uuid", f.DepartureID)
	}
	if f.PropertyID != "" {
		w.add("r.property_id = ?::uuid", f.PropertyID)
	}
	if f.After != nil {
		w.add("(r.create_time, r.id) < (?, ?::uuid)", f.After.Time, f.After.ID)
	}
	sql := reservationSelect + w.String() + ` ORDER BY r.create_time DESC, r.id DESC LIMIT ` + w.arg(f.Limit)
	return queryReservations(ctx, s.pool, sql, w.args...)
}

// UpdateReservation changes one reservation under its row lock.
func (s *Store) UpdateReservation(ctx context.Context, id string, key booking.IdempotencyKey, fn func(r *booking.Reservation) (booking.Change, error)) (*booking.Reservation, error) {
	var out *booking.Reservation
	err := s.inTx(ctx, func(tx *txn, emit func(...booking.Event)) error {
		r, fresh, err := claimAndLock(ctx, tx, key, id)
		if err != nil {
			return err
		}
		if !fresh {
			out = r
			return nil
		}
		if err := applyChange(ctx, tx, r, fn, emit); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// claimAndLock claims key for reservation id and reads the reservation locked FOR UPDATE,
// in one round trip (the key's INSERT and the locked read pipelined as one batch). It
// returns the reservation and whether this call is the key's first; a key used before
// for id returns the reservation as it is now (a retry's answer), a key used for another
// resource is an error. Locking the row of a retry is harmless: the transaction ends
// without changing it.
func claimAndLock(ctx context.Context, tx *txn, key booking.IdempotencyKey, id string) (*booking.Reservation, bool, error) {
	if key.RequestID == "" {
		r, err := getReservation(ctx, tx, id, true)
		return r, true, err
	}
	b := &pgx.Batch{}
	b.Queue(claimKeySQL, key.Actor, key.Operation, key.RequestID, id)
	b.Queue(reservationSelect+` WHERE r.id = $1 FOR UPDATE OF r`, id)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	r, rerr := scanReservation(br.QueryRow())
	if err := br.Close(); err != nil && rerr == nil {
		rerr = err
	}
	if tag.RowsAffected() == 1 {
		if rerr != nil {
			return nil, false, mapErr(rerr)
		}
		return r, true, nil
	}
	first, _, err := readKey(ctx, tx, key)
	if err != nil {
		return nil, false, err
	}
	if first != id {
		return nil, false, errKeyReused("request_id")
	}
	if rerr != nil {
		return nil, false, mapErr(rerr)
	}
	return r, false, nil
}

// sweepSQL selects the queue of each sweep; $1 is now and $2 the batch size. SKIP LOCKED
// lets replicas sweep at once without waiting for or repeating each other's rows.
var sweepSQL = map[booking.Sweep]string{
	booking.SweepExpiry: reservationSelect + `
		WHERE r.status = 1 AND r.hold_expire_time <= $1
		ORDER BY r.hold_expire_time LIMIT $2 FOR UPDATE OF r SKIP LOCKED`,
	booking.SweepCompletion: reservationSelect + `
		WHERE r.status IN (2, 3) AND r.service_end <= $1
		ORDER BY r.service_end LIMIT $2 FOR UPDATE OF r SKIP LOCKED`,
}

// SweepReservations applies fn to a batch of due reservations in one transaction.
func (s *Store) SweepReservations(ctx context.Context, sweep booking.Sweep, now time.Time, limit int, fn func(r *booking.Reservation) (booking.Change, error)) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *txn, emit func(...booking.Event)) error {
		n = 0
		rs, err := queryReservations(ctx, tx, sweepSQL[sweep], now, limit)
		if err != nil {
			return err
		}
		// Touch counter rows in one order in every transaction, so sweeps do not deadlock
		// with each other.
		slices.SortFunc(rs, func(a, b *booking.Reservation) int {
			return cmp.Or(cmp.Compare(inventoryKey(a), inventoryKey(b)), cmp.Compare(a.ID, b.ID))
		})
		for _, r := range rs {
			if err := applyChange(ctx, tx, r, fn, emit); err != nil {
				return fmt.Errorf("sweep reservation %s: %w", r.ID, err)
			}
		}
		n = len(rs)
		return nil
	})
	return n, err
}

// inventoryKey names the counter rows a reservation touches, for ordering.
func inventoryKey(r *booking.Reservation) string {
	if r.Seat != nil {
		return "d/" + r.Seat.DepartureID + "/" + r.Seat.FareClass
	}
	return "p/" + r.Stay.PropertyID + "/" + r.Stay.RoomType + "/" + r.Stay.CheckIn.String()
}
