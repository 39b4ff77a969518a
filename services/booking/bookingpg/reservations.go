package bookingpg

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/booking/booking"
)

// reservationSelect reads reservations with the departure or property fields they show.
const reservationSelect = `
	SELECT r.id::text, r.customer_id, r.kind,
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
	err := row.Scan(&r.ID, &r.CustomerID, &r.Kind, &departureID, &fareClass,
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
			Refundable: money.Money{Currency: r.Price.Currency}}
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

func queryReservations(ctx context.Context, q txn.Querier, sql string, args ...any) ([]*booking.Reservation, error) {
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

// getReservation reads one reservation.
func getReservation(ctx context.Context, q txn.Querier, id string) (*booking.Reservation, error) {
	r, err := scanReservation(q.QueryRow(ctx, reservationSelect+` WHERE r.id = $1`, id))
	if err != nil {
		return nil, constraints.MapNotFound(err, "reservation %s does not exist", id)
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
func writeReservation(ctx context.Context, tx *txn.Tx, r *booking.Reservation) error {
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
// trip; then it emits the change's event.
func (s *Store) applyChange(ctx context.Context, tx *txn.Tx, r *booking.Reservation, fn func(r *booking.Reservation) (booking.Change, error)) error {
	ch, err := fn(r)
	if err != nil || ch.None {
		return err
	}
	if err := tx.SendBatch(ctx, writeBatch([]booking.BatchChange{{Reservation: r, Change: ch}})).Close(); err != nil {
		return err
	}
	return s.emit(tx, booking.Event{Type: ch.Event, Reservation: r, Previous: ch.Previous})
}

// Hold inserts a HELD reservation and takes its units from the counters in the same
// transaction, with the claim of key, in one round trip with the transaction's BEGIN;
// the counter update's WHERE clause is the capacity check. A replayed key answers with
// the reservation the first hold made.
func (s *Store) Hold(ctx context.Context, r *booking.Reservation, key idempotency.Key) (*booking.Reservation, error) {
	err := s.run(ctx, func(tx *txn.Tx) error {
		hold := s.holdStay
		if r.Seat != nil {
			hold = s.holdSeats
		}
		if err := hold(ctx, tx, r, key); err != nil {
			return err
		}
		return s.emit(tx, booking.Event{Type: booking.EventHeld, Reservation: r})
	})
	if rp, ok := errors.AsType[replayed](err); ok {
		return s.GetReservation(ctx, string(rp.result))
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// FindHold returns the reservation of a committed hold with key, or nil.
func (s *Store) FindHold(ctx context.Context, key idempotency.Key) (*booking.Reservation, error) {
	id, found, err := s.keys.Lookup(ctx, s.pool, key)
	if err != nil || !found {
		return nil, err
	}
	return s.GetReservation(ctx, string(id))
}

// claimRead reads a claim queued with a change's statements: nil for a fresh key, the
// replayed error for a key completed before (the transaction must roll back what the
// batch sent with the claim), or the claim's error.
func claimRead(q idempotencypg.Queued, br pgx.BatchResults) (*idempotencypg.Claim, error) {
	c, err := q.Read(br)
	if err != nil {
		return nil, err
	}
	if c.Replayed {
		return nil, replayed{result: c.Result}
	}
	return c, nil
}

// The statements of a hold, sent as one pipelined batch with the transaction's BEGIN.
// PostgreSQL runs them in order; when the departure or property turns out not to be on
// sale, or the claim of the idempotency key not to be fresh, the caller's transaction
// rolls the others back.
//
// The claim goes last, after the counter rows' locks: a retry racing the first hold waits
// for it there, and then finds its key committed and replays it, instead of failing with
// REQUEST_IN_PROGRESS.
const (
	// shareDepartureSQL takes a share lock on the departure: a concurrent cancellation,
	// which takes FOR UPDATE, either sees this hold or makes it fail here.
	shareDepartureSQL = `SELECT status, departure_time FROM departure WHERE id = $1 FOR SHARE`
	// holdSeatsSQL takes a seat hold's units from its fare class; the WHERE clause is the
	// capacity check: $1 departure, $2 fare class, $3 quantity.
	holdSeatsSQL = `
	UPDATE fare_class SET held = held + $3
	WHERE departure_id = $1 AND name = $2 AND held + sold + $3 <= capacity`

	// shareProperty is shareDepartureSQL for a stay's property.
	sharePropertySQL = `SELECT status FROM property WHERE id = $1 FOR SHARE`
	// createNightsSQL creates a stay's counter rows with the room type's capacity where
	// missing: $1 property, $2 room type, $3 check-in, $4 check-out.
	createNightsSQL = `
	INSERT INTO room_night (property_id, room_type, night, capacity)
	SELECT rt.property_id, rt.name, g.night::date, rt.nightly_capacity
	FROM room_type rt, generate_series($3::date, $4::date - 1, interval '1 day') AS g(night)
	WHERE rt.property_id = $1 AND rt.name = $2
	ORDER BY g.night
	ON CONFLICT DO NOTHING`
	// holdNightsSQL takes a stay's rooms on every night or on none: the nights are locked
	// in night order (so overlapping stays never deadlock) and updated in one statement
	// whose WHERE clause is the capacity check; fewer rows updated than nights means a
	// full night. $5 is the quantity.
	holdNightsSQL = `
	WITH locked AS (
		SELECT night FROM room_night
		WHERE property_id = $1 AND room_type = $2 AND night >= $3 AND night < $4
		ORDER BY night FOR UPDATE
	)
	UPDATE room_night n SET held = n.held + $5
	FROM locked
	WHERE n.property_id = $1 AND n.room_type = $2 AND n.night = locked.night
		AND n.held + n.sold + $5 <= n.capacity`
)

// holdSeats writes a seat hold in tx with one round trip: the share lock on the
// departure, the reservation's row, the counter update and the key's claim.
func (s *Store) holdSeats(ctx context.Context, tx *txn.Tx, r *booking.Reservation, key idempotency.Key) error {
	sql, args := insertReservationSQL(r)
	b := &pgx.Batch{}
	b.Queue(shareDepartureSQL, r.Seat.DepartureID)
	b.Queue(sql, args...)
	b.Queue(holdSeatsSQL, r.Seat.DepartureID, r.Seat.FareClass, r.Quantity)
	claim := s.keys.QueueWith(b, key, []byte(r.ID))
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var status booking.DepartureStatus
	var at time.Time
	if err := br.QueryRow().Scan(&status, &at); err != nil {
		return constraints.MapNotFound(err, "departure %s does not exist", r.Seat.DepartureID)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("insert reservation: %w", err)
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("hold seats: %w", err)
	}
	if _, err := claimRead(claim, br); err != nil {
		return err
	}
	if status != booking.DepartureScheduled || !at.After(r.CreateTime) {
		return errs.Precondition(booking.ReasonNotOnSale, "departure %s is not on sale", r.Seat.DepartureID)
	}
	if tag.RowsAffected() != 1 {
		return booking.ErrInsufficientAvailability
	}
	return br.Close()
}

// holdStay writes a stay hold in tx with one round trip: the share lock on the property,
// the reservation's row, the nights' counter rows, their update and the key's claim.
func (s *Store) holdStay(ctx context.Context, tx *txn.Tx, r *booking.Reservation, key idempotency.Key) error {
	st := r.Stay
	in, out := st.CheckIn.In(time.UTC, 0), st.CheckOut.In(time.UTC, 0)
	sql, args := insertReservationSQL(r)
	b := &pgx.Batch{}
	b.Queue(sharePropertySQL, st.PropertyID)
	b.Queue(sql, args...)
	b.Queue(createNightsSQL, st.PropertyID, st.RoomType, in, out)
	b.Queue(holdNightsSQL, st.PropertyID, st.RoomType, in, out, r.Quantity)
	claim := s.keys.QueueWith(b, key, []byte(r.ID))
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var status booking.PropertyStatus
	if err := br.QueryRow().Scan(&status); err != nil {
		return constraints.MapNotFound(err, "property %s does not exist", st.PropertyID)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("insert reservation: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("create room nights: %w", err)
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("hold rooms: %w", err)
	}
	if _, err := claimRead(claim, br); err != nil {
		return err
	}
	if status != booking.PropertyActive {
		return errs.Precondition(booking.ReasonNotOnSale, "property %s is closed", st.PropertyID)
	}
	if int(tag.RowsAffected()) != st.Nights() {
		return booking.ErrInsufficientAvailability
	}
	return br.Close()
}

// insertReservationSQL returns the statement inserting r and its arguments.
func insertReservationSQL(r *booking.Reservation) (string, []any) {
	var (
		departureID, fareClass, propertyID, roomType *string
		checkIn, checkOut                            *time.Time
		guestCount                                   *int
	)
	if r.Seat != nil {
		departureID, fareClass = &r.Seat.DepartureID, &r.Seat.FareClass
	} else {
		propertyID, roomType = &r.Stay.PropertyID, &r.Stay.RoomType
		in, out := r.Stay.CheckIn.In(time.UTC, 0), r.Stay.CheckOut.In(time.UTC, 0)
		checkIn, checkOut, guestCount = &in, &out, &r.Stay.GuestCount
	}
	return `
		INSERT INTO reservation (id, customer_id, kind, departure_id, fare_class, property_id,
			room_type, check_in_date, check_out_date, guest_count, quantity, travelers, price_minor, currency,
			rate_card_id, rate_version, quote_id, hold_expire_time, status, sub_status, policy, service_start,
			service_end, history, create_time, update_time, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27)`,
		[]any{r.ID, r.CustomerID, r.Kind, departureID, fareClass, propertyID, roomType, checkIn,
			checkOut, guestCount, r.Quantity, r.Travelers, r.Price.Amount, r.Price.Currency, r.RateCardID,
			r.RateVersion, r.QuoteID, nullTime(r.HoldExpireTime), r.Status, r.SubStatus, policyJSON(r.Policy),
			r.ServiceStart, r.ServiceEnd, historyJSON(r.History), r.CreateTime, r.UpdateTime, r.Version}
}

// GetReservation reads one reservation.
func (s *Store) GetReservation(ctx context.Context, id string) (*booking.Reservation, error) {
	return getReservation(ctx, s.pool, id)
}

// GetReservations reads every reservation of ids that exists, with one query.
func (s *Store) GetReservations(ctx context.Context, ids []string) ([]*booking.Reservation, error) {
	rs, err := queryReservations(ctx, s.pool, reservationSelect+` WHERE r.id = ANY($1::uuid[])`, ids)
	return rs, mapErr(err)
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
	rs, err := queryReservations(ctx, s.pool, sql, w.args...)
	return rs, mapErr(err)
}

// UpdateReservation changes one reservation under its row lock.
func (s *Store) UpdateReservation(ctx context.Context, id string, key idempotency.Key, fn func(r *booking.Reservation) (booking.Change, error)) (*booking.Reservation, error) {
	var out *booking.Reservation
	err := s.run(ctx, func(tx *txn.Tx) error {
		r, fresh, err := s.lockAndClaim(ctx, tx, key, id)
		if err != nil {
			return err
		}
		out = r
		if !fresh {
			return nil
		}
		return s.applyChange(ctx, tx, r, fn)
	})
	return out, err
}

// lockAndClaim reads reservation id locked FOR UPDATE and claims key for it, storing the
// id as the key's result, in one round trip (with the transaction's BEGIN). It returns
// the reservation and whether the key is fresh; a key completed before returns the
// reservation as it is now (a retry's answer). The claim follows the row lock, so a retry
// racing the first call waits for it and then replays.
func (s *Store) lockAndClaim(ctx context.Context, tx *txn.Tx, key idempotency.Key, id string) (*booking.Reservation, bool, error) {
	b := &pgx.Batch{}
	b.Queue(reservationSelect+` WHERE r.id = $1 FOR UPDATE OF r`, id)
	claim := s.keys.QueueWith(b, key, []byte(id))
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	r, err := scanReservation(br.QueryRow())
	if err != nil {
		return nil, false, constraints.MapNotFound(err, "reservation %s does not exist", id)
	}
	c, err := claim.Read(br)
	if err != nil {
		return nil, false, err
	}
	return r, !c.Replayed, br.Close()
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
	err := s.run(ctx, func(tx *txn.Tx) error {
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
			if err := s.applyChange(ctx, tx, r, fn); err != nil {
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
