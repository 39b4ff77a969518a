package analyticspg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analytics"
)

const upsertUnitSQL = `
INSERT INTO units (unit_kind, unit_id, route, city) VALUES ($1, $2, $3, $4)
ON CONFLICT (unit_kind, unit_id) DO UPDATE SET
    route = CASE WHEN EXCLUDED.route <> '' THEN EXCLUDED.route ELSE units.route END,
    city  = CASE WHEN EXCLUDED.city <> '' THEN EXCLUDED.city ELSE units.city END
WHERE (EXCLUDED.route <> '' AND EXCLUDED.route <> units.route) OR (EXCLUDED.city <> '' AND EXCLUDED.city <> units.city)`

const storedReservationSQL = `
SELECT unit_kind, unit_id, quantity, nights, first_night, service_start, currency_code, amount_minor,
       cancelled_at IS NOT NULL
FROM reservations WHERE reservation_id = $1 FOR UPDATE`

const cancelReservationSQL = `UPDATE reservations SET cancelled_at = $2 WHERE reservation_id = $1`

const bookingDaySQL = `
INSERT INTO booking_days (day, unit_kind, unit_id, bookings, cancellations, stay_bookings, stay_nights)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (day, unit_kind, unit_id) DO UPDATE SET
    bookings = booking_days.bookings + EXCLUDED.bookings,
    cancellations = booking_days.cancellations + EXCLUDED.cancellations,
    stay_bookings = booking_days.stay_bookings + EXCLUDED.stay_bookings,
    stay_nights = booking_days.stay_nights + EXCLUDED.stay_nights`

const bookingMoneySQL = `
INSERT INTO booking_money_days (day, unit_kind, unit_id, currency_code, gross_minor, refunds_minor)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (day, unit_kind, unit_id, currency_code) DO UPDATE SET
    gross_minor = booking_money_days.gross_minor + EXCLUDED.gross_minor,
    refunds_minor = booking_money_days.refunds_minor + EXCLUDED.refunds_minor`

const usageSQL = `
INSERT INTO usage_days (day, unit_kind, unit_id, currency_code, sold, revenue_minor)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (day, unit_kind, unit_id, currency_code) DO UPDATE SET
    sold = usage_days.sold + EXCLUDED.sold,
    revenue_minor = usage_days.revenue_minor + EXCLUDED.revenue_minor`

// bookSQL books a reservation in one statement: the stored copy is inserted unless the
// reservation is stored already, and the rollups change only when it was inserted. The
// changes are analytics.ProjectReservation's for a reservation not booked before,
// computed by the caller; the usage rows come as arrays ($17 days, $18 sold, $19 revenue).
const bookSQL = `
WITH ins AS (
    INSERT INTO reservations (reservation_id, unit_kind, unit_id, booked_at, booked_on, lead_seconds, quantity, nights,
        first_night, service_start, currency_code, amount_minor)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (reservation_id) DO NOTHING
    RETURNING 1),
bd AS (
    INSERT INTO booking_days (day, unit_kind, unit_id, bookings, cancellations, stay_bookings, stay_nights)
    SELECT $5, $2, $3, 1, 0, $13, $14 FROM ins
    ON CONFLICT (day, unit_kind, unit_id) DO UPDATE SET
        bookings = booking_days.bookings + 1,
        stay_bookings = booking_days.stay_bookings + EXCLUDED.stay_bookings,
        stay_nights = booking_days.stay_nights + EXCLUDED.stay_nights),
bm AS (
    INSERT INTO booking_money_days (day, unit_kind, unit_id, currency_code, gross_minor, refunds_minor)
    SELECT $5, $2, $3, $11, $15, 0 FROM ins
    ON CONFLICT (day, unit_kind, unit_id, currency_code) DO UPDATE SET
        gross_minor = booking_money_days.gross_minor + EXCLUDED.gross_minor)
INSERT INTO usage_days (day, unit_kind, unit_id, currency_code, sold, revenue_minor)
SELECT u.day, $2, $3, $11, u.sold, u.revenue FROM ins,
    unnest($16::date[], $17::bigint[], $18::bigint[]) AS u(day, sold, revenue)
ON CONFLICT (day, unit_kind, unit_id, currency_code) DO UPDATE SET
    sold = usage_days.sold + EXCLUDED.sold,
    revenue_minor = usage_days.revenue_minor + EXCLUDED.revenue_minor`

// applyReservation projects a reservation event (analytics.ProjectReservation) onto the
// stored copy of the reservation and the rollups: a booking in one round trip (bookSQL),
// a cancellation in two (the stored copy is what it takes back), anything else only
// updates the unit's route and city.
func applyReservation(ctx context.Context, tx *txn.Tx, r analytics.Reservation) error {
	if r.UnitID == "" {
		return nil // neither a stay nor a seat: nothing to count
	}
	switch r.Stage {
	case analytics.StageBooked:
		return book(ctx, tx, r)
	case analytics.StageCancelled:
		return cancel(ctx, tx, r)
	}
	if _, err := tx.Exec(ctx, upsertUnitSQL, string(r.Unit), r.UnitID, r.Route, r.City); err != nil {
		return fmt.Errorf("apply reservation %s: %w", r.ID, err)
	}
	return nil
}

// book applies a booked reservation: ProjectReservation's effect for a reservation not
// booked yet, applied only if it was not (bookSQL).
func book(ctx context.Context, tx *txn.Tx, r analytics.Reservation) error {
	eff := analytics.ProjectReservation(nil, false, r)
	var firstNight *time.Time
	if !r.FirstNight.IsZero() {
		firstNight = &r.FirstNight
	}
	days := make([]time.Time, len(eff.Usage))
	sold := make([]int64, len(eff.Usage))
	revenue := make([]int64, len(eff.Usage))
	for i, u := range eff.Usage {
		days[i], sold[i], revenue[i] = u.Day, u.Sold, u.Revenue
	}
	d := eff.Booking
	b := &pgx.Batch{}
	b.Queue(upsertUnitSQL, string(r.Unit), r.UnitID, r.Route, r.City)
	b.Queue(bookSQL, r.ID, string(r.Unit), r.UnitID, r.At, d.Day, int64(r.ServiceStart.Sub(r.At)/time.Second), r.Quantity,
		r.Nights, firstNight, r.ServiceStart, r.Price.Currency, r.Price.Amount, d.StayBookings, d.StayNights, d.Gross,
		days, sold, revenue)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("book reservation %s: %w", r.ID, err)
	}
	return nil
}

// cancel applies a cancellation: it reads the stored copy and takes back what it booked.
func cancel(ctx context.Context, tx *txn.Tx, r analytics.Reservation) error {
	b := &pgx.Batch{}
	b.Queue(upsertUnitSQL, string(r.Unit), r.UnitID, r.Route, r.City)
	var stored *analytics.Reservation
	var cancelled bool
	b.Queue(storedReservationSQL, r.ID).QueryRow(func(row pgx.Row) error {
		var x analytics.Reservation
		var unit, currency string
		var amount int64
		var firstNight *time.Time
		err := row.Scan(&unit, &x.UnitID, &x.Quantity, &x.Nights, &firstNight, &x.ServiceStart, &currency, &amount, &cancelled)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		x.ID, x.Unit, x.Price = r.ID, analytics.UnitKind(unit), money.New(amount, currency)
		if firstNight != nil {
			x.FirstNight = firstNight.UTC()
		}
		stored = &x
		return nil
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("read reservation %s: %w", r.ID, err)
	}
	eff := analytics.ProjectReservation(stored, cancelled, r)
	if !eff.Cancel {
		return nil
	}
	w := &pgx.Batch{}
	w.Queue(cancelReservationSQL, r.ID, r.At)
	d := eff.Booking
	w.Queue(bookingDaySQL, d.Day, string(d.Unit), d.UnitID, d.Bookings, d.Cancellations, d.StayBookings, d.StayNights)
	w.Queue(bookingMoneySQL, d.Day, string(d.Unit), d.UnitID, d.Currency, d.Gross, d.Refunds)
	for _, u := range eff.Usage {
		w.Queue(usageSQL, u.Day, string(u.Unit), u.UnitID, u.Currency, u.Sold, u.Revenue)
	}
	if err := tx.SendBatch(ctx, w).Close(); err != nil {
		return fmt.Errorf("cancel reservation %s: %w", r.ID, err)
	}
	return nil
}

const departureSQL = `
INSERT INTO units (unit_kind, unit_id, route, city, capacity, departure_day, cancelled)
VALUES ('departure', $1, $2, $3, $4, $5, $6)
ON CONFLICT (unit_kind, unit_id) DO UPDATE SET
    route = EXCLUDED.route, city = EXCLUDED.city, capacity = EXCLUDED.capacity,
    departure_day = EXCLUDED.departure_day, cancelled = EXCLUDED.cancelled`

// applyDeparture stores a departure's capacity, day and route.
func applyDeparture(ctx context.Context, tx *txn.Tx, d analytics.Departure) error {
	if _, err := tx.Exec(ctx, departureSQL, d.ID, d.Route, d.City, d.Capacity, d.Day, d.Cancelled); err != nil {
		return fmt.Errorf("apply departure %s: %w", d.ID, err)
	}
	return nil
}

const propertySQL = `
INSERT INTO units (unit_kind, unit_id, city, capacity, opened_on, closed_on)
VALUES ('property', $1, $2, $3, $4, $5)
ON CONFLICT (unit_kind, unit_id) DO UPDATE SET
    city = EXCLUDED.city, capacity = EXCLUDED.capacity, opened_on = EXCLUDED.opened_on,
    closed_on = COALESCE(units.closed_on, EXCLUDED.closed_on)`

// applyProperty stores a property's capacity, city and open days.
func applyProperty(ctx context.Context, tx *txn.Tx, p analytics.Property) error {
	var closed *time.Time
	if !p.ClosedOn.IsZero() {
		closed = &p.ClosedOn
	}
	if _, err := tx.Exec(ctx, propertySQL, p.ID, p.City, p.Capacity, p.OpenedOn, closed); err != nil {
		return fmt.Errorf("apply property %s: %w", p.ID, err)
	}
	return nil
}

const paymentDaySQL = `
INSERT INTO payment_days (day, currency_code, authorizations, failures, captured_minor, refunded_minor)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (day, currency_code) DO UPDATE SET
    authorizations = payment_days.authorizations + EXCLUDED.authorizations,
    failures = payment_days.failures + EXCLUDED.failures,
    captured_minor = payment_days.captured_minor + EXCLUDED.captured_minor,
    refunded_minor = payment_days.refunded_minor + EXCLUDED.refunded_minor`

const paymentHourSQL = `
INSERT INTO payment_hours (hour, authorizations, failures) VALUES (date_trunc('hour', $1::timestamptz), $2, $3)
ON CONFLICT (hour) DO UPDATE SET
    authorizations = payment_hours.authorizations + EXCLUDED.authorizations,
    failures = payment_hours.failures + EXCLUDED.failures`

// applyPayment counts a payment operation.
func applyPayment(ctx context.Context, tx *txn.Tx, p analytics.Payment) error {
	var auths, failures, captured, refunded int64
	switch p.Op {
	case analytics.PaymentAuthorized:
		auths = 1
	case analytics.PaymentFailed:
		failures = 1
	case analytics.PaymentCaptured:
		captured = p.Amount.Amount
	case analytics.PaymentRefunded:
		refunded = p.Amount.Amount
	default:
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(paymentDaySQL, analytics.Day(p.At), p.Amount.Currency, auths, failures, captured, refunded)
	if auths+failures > 0 {
		b.Queue(paymentHourSQL, p.At, auths, failures)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("apply payment: %w", err)
	}
	return nil
}

const outstandingBillSQL = `SELECT currency_code, amount_minor FROM outstanding_bills WHERE bill_id = $1 ORDER BY currency_code FOR UPDATE`

const receivableSQL = `
INSERT INTO receivable_days (day, currency_code, finalized_minor, cleared_minor) VALUES ($1, $2, $3, $4)
ON CONFLICT (day, currency_code) DO UPDATE SET
    finalized_minor = receivable_days.finalized_minor + EXCLUDED.finalized_minor,
    cleared_minor = receivable_days.cleared_minor + EXCLUDED.cleared_minor`

// applyBill moves a bill's totals into or out of the receivables when it becomes owed
// or stops being owed.
func applyBill(ctx context.Context, tx *txn.Tx, b analytics.Bill) error {
	rows, err := tx.Query(ctx, outstandingBillSQL, b.ID)
	if err != nil {
		return fmt.Errorf("read bill %s: %w", b.ID, err)
	}
	stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (money.Money, error) {
		var m money.Money
		return m, r.Scan(&m.Currency, &m.Amount)
	})
	if err != nil {
		return fmt.Errorf("read bill %s: %w", b.ID, err)
	}
	deltas := analytics.ProjectBill(len(stored) > 0, stored, b)
	if len(deltas) == 0 {
		return nil
	}
	w := &pgx.Batch{}
	if b.Outstanding {
		for _, t := range b.Totals {
			w.Queue(`INSERT INTO outstanding_bills (bill_id, currency_code, amount_minor) VALUES ($1, $2, $3)`, b.ID, t.Currency, t.Amount)
		}
	} else {
		w.Queue(`DELETE FROM outstanding_bills WHERE bill_id = $1`, b.ID)
	}
	for _, d := range deltas {
		w.Queue(receivableSQL, d.Day, d.Currency, d.Finalized, d.Cleared)
	}
	if err := tx.SendBatch(ctx, w).Close(); err != nil {
		return fmt.Errorf("apply bill %s: %w", b.ID, err)
	}
	return nil
}

const fareSQL = `
INSERT INTO fare_days (day, city, currency_code, fares, revenue_minor, surged) VALUES ($1, $2, $3, 1, $4, $5)
ON CONFLICT (day, city, currency_code) DO UPDATE SET
    fares = fare_days.fares + 1, revenue_minor = fare_days.revenue_minor + EXCLUDED.revenue_minor,
    surged = fare_days.surged + EXCLUDED.surged`

// applyFare counts a ride's fare.
func applyFare(ctx context.Context, tx *txn.Tx, f analytics.Fare) error {
	surged := 0
	if f.Surged {
		surged = 1
	}
	if _, err := tx.Exec(ctx, fareSQL, analytics.Day(f.At), f.City, f.Total.Currency, f.Total.Amount, surged); err != nil {
		return fmt.Errorf("apply fare %s: %w", f.TripID, err)
	}
	return nil
}

const tripSQL = `
INSERT INTO ride_days (day, city, requested, assigned, assign_seconds, completed, cancelled)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (day, city) DO UPDATE SET
    requested = ride_days.requested + EXCLUDED.requested,
    assigned = ride_days.assigned + EXCLUDED.assigned,
    assign_seconds = ride_days.assign_seconds + EXCLUDED.assign_seconds,
    completed = ride_days.completed + EXCLUDED.completed,
    cancelled = ride_days.cancelled + EXCLUDED.cancelled`

// applyTrip counts a trip's request, assignment (and its wait), completion or
// cancellation; trip emits each once per trip.
func applyTrip(ctx context.Context, tx *txn.Tx, t analytics.Trip) error {
	var c [5]int64
	switch t.Step {
	case analytics.TripRequested:
		c[0] = 1
	case analytics.TripAssigned:
		c[1], c[2] = 1, int64(t.WaitForDriver/time.Second)
	case analytics.TripCompleted:
		c[3] = 1
	case analytics.TripCancelled:
		c[4] = 1
	default:
		return nil
	}
	if _, err := tx.Exec(ctx, tripSQL, analytics.Day(t.At), t.City, c[0], c[1], c[2], c[3], c[4]); err != nil {
		return fmt.Errorf("apply trip %s: %w", t.ID, err)
	}
	return nil
}
