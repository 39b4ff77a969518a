package analyticspg

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/analytics/analytics"
)

// periodExpr maps a day column to its period's first day: $3 is the granularity ("day",
// "week" or "total") and $1 the range's first day.
func periodExpr(col string) string {
	return `(CASE $3 WHEN 'week' THEN GREATEST(date_trunc('week', ` + col + `)::date, $1::date)
	         WHEN 'total' THEN $1::date ELSE ` + col + ` END)`
}

// groupedUnits is the units with their group key ($4 names the dimension); a unit
// outside the dimension has a NULL key.
const groupedUnits = `
u AS (
  SELECT unit_kind, unit_id, capacity, opened_on, closed_on, departure_day, cancelled,
    CASE $4::text
      WHEN '' THEN ''
      WHEN 'property' THEN CASE WHEN unit_kind = 'property' THEN unit_id END
      WHEN 'departure' THEN CASE WHEN unit_kind = 'departure' THEN unit_id END
      WHEN 'route' THEN CASE WHEN unit_kind = 'departure' THEN route END
      WHEN 'city' THEN city
    END AS grp
  FROM units)`

// sumsSQL adds up every rollup of the days $1 to $2 per period, group and currency (” for
// counts that have none). Each branch fills its own columns and zeros the others.
var sumsSQL = `
WITH ` + groupedUnits + `,
f (day, grp, cur, bookings, cancellations, stay_bookings, stay_nights, rn_sold, rn_avail, seats_sold, seats_avail,
   auths, failures, fares, gross, refunds, room_rev, seat_rev, captured, pay_refunded, ride_rev,
   requested, completed, trips_cancelled, assigned, assign_secs, surged) AS (
  SELECT b.day, u.grp, '', b.bookings, b.cancellations, b.stay_bookings, b.stay_nights, 0::bigint, 0::bigint, 0::bigint, 0::bigint,
         0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0, 0, 0, 0, 0, 0
  FROM booking_days b JOIN u USING (unit_kind, unit_id)
  WHERE b.day BETWEEN $1 AND $2 AND u.grp IS NOT NULL
  UNION ALL
  SELECT m.day, u.grp, m.currency_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, m.gross_minor, m.refunds_minor, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  FROM booking_money_days m JOIN u USING (unit_kind, unit_id)
  WHERE m.day BETWEEN $1 AND $2 AND u.grp IS NOT NULL
  UNION ALL
  SELECT s.day, u.grp, s.currency_code, 0, 0, 0, 0,
         CASE WHEN s.unit_kind = 'property' THEN s.sold ELSE 0 END, 0,
         CASE WHEN s.unit_kind = 'departure' THEN s.sold ELSE 0 END, 0, 0, 0, 0, 0, 0,
         CASE WHEN s.unit_kind = 'property' THEN s.revenue_minor ELSE 0 END,
         CASE WHEN s.unit_kind = 'departure' THEN s.revenue_minor ELSE 0 END, 0, 0, 0, 0, 0, 0, 0, 0, 0
  FROM usage_days s JOIN u USING (unit_kind, unit_id)
  WHERE s.day BETWEEN $1 AND $2 AND u.grp IS NOT NULL
  UNION ALL
  SELECT d::date, u.grp, '', 0, 0, 0, 0, 0, u.capacity, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  FROM u CROSS JOIN LATERAL generate_series(GREATEST(u.opened_on, $1::date)::timestamp,
      LEAST(COALESCE(u.closed_on - 1, $2::date), $2::date)::timestamp, interval '1 day') d
  WHERE u.unit_kind = 'property' AND u.opened_on IS NOT NULL AND u.capacity > 0 AND u.grp IS NOT NULL
  UNION ALL
  SELECT u.departure_day, u.grp, '', 0, 0, 0, 0, 0, 0, 0, u.capacity, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  FROM u
  WHERE u.unit_kind = 'departure' AND NOT u.cancelled AND u.capacity > 0 AND u.departure_day BETWEEN $1 AND $2 AND u.grp IS NOT NULL
  UNION ALL
  SELECT p.day, '', p.currency_code, 0, 0, 0, 0, 0, 0, 0, 0, p.authorizations, p.failures, 0, 0, 0, 0, 0,
         p.captured_minor, p.refunded_minor, 0, 0, 0, 0, 0, 0, 0
  FROM payment_days p
  WHERE $4::text = '' AND p.day BETWEEN $1 AND $2
  UNION ALL
  SELECT r.day, CASE WHEN $4::text = '' THEN '' ELSE r.city END, r.currency_code, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, r.fares,
         0, 0, 0, 0, 0, 0, r.revenue_minor, 0, 0, 0, 0, 0, r.surged
  FROM fare_days r
  WHERE $4::text IN ('', 'city') AND r.day BETWEEN $1 AND $2
  UNION ALL
  SELECT d.day, CASE WHEN $4::text = '' THEN '' ELSE d.city END, '', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0, d.requested, d.completed, d.cancelled, d.assigned, d.assign_seconds, 0
  FROM ride_days d
  WHERE $4::text IN ('', 'city') AND d.day BETWEEN $1 AND $2
)
SELECT ` + periodExpr("f.day") + ` AS period, grp, cur,
  sum(bookings)::bigint, sum(cancellations)::bigint, sum(stay_bookings)::bigint, sum(stay_nights)::bigint,
  sum(rn_sold)::bigint, sum(rn_avail)::bigint, sum(seats_sold)::bigint, sum(seats_avail)::bigint,
  sum(auths)::bigint, sum(failures)::bigint, sum(fares)::bigint,
  sum(gross)::bigint, sum(refunds)::bigint, sum(room_rev)::bigint, sum(seat_rev)::bigint,
  sum(captured)::bigint, sum(pay_refunded)::bigint, sum(ride_rev)::bigint,
  sum(requested)::bigint, sum(completed)::bigint, sum(trips_cancelled)::bigint, sum(assigned)::bigint,
  sum(assign_secs)::bigint, sum(surged)::bigint
FROM f GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`

// leadSQL computes the lead time percentiles of the bookings of $1 to $2 per period and
// group (nearest rank: percentile_disc).
var leadSQL = `
WITH ` + groupedUnits + `
SELECT ` + periodExpr("r.booked_on") + `, u.grp,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY r.lead_seconds),
  percentile_disc(0.9) WITHIN GROUP (ORDER BY r.lead_seconds)
FROM reservations r JOIN u USING (unit_kind, unit_id)
WHERE r.booked_on BETWEEN $1 AND $2 AND u.grp IS NOT NULL
GROUP BY 1, 2`

// outstandingSQL is the receivables balance per currency at the end of each day of $1.
const outstandingSQL = `
SELECT p.last, r.currency_code, sum(r.finalized_minor - r.cleared_minor)::bigint
FROM unnest($1::date[]) AS p(last) JOIN receivable_days r ON r.day <= p.last
GROUP BY 1, 2 HAVING sum(r.finalized_minor - r.cleared_minor) <> 0`

// granularityName is the SQL parameter naming g.
func granularityName(g analytics.Granularity) string {
	switch g {
	case analytics.ByWeek:
		return "week"
	case analytics.Total:
		return "total"
	}
	return "day"
}

type rowKey struct {
	period time.Time
	group  string
}

// Sums implements analytics.Store.
func (s *Store) Sums(ctx context.Context, q analytics.Query) ([]analytics.Sums, error) {
	args := []any{q.Start, q.End, granularityName(q.Granularity), string(q.GroupBy)}
	byKey := map[rowKey]*analytics.Sums{}
	var order []rowKey
	row := func(period time.Time, group string) *analytics.Sums {
		k := rowKey{period.UTC(), group}
		if r, ok := byKey[k]; ok {
			return r
		}
		start, end := q.Period(k.period)
		r := &analytics.Sums{PeriodStart: start, PeriodEnd: end, Group: group, Ungrouped: q.GroupBy == analytics.NoGroup,
			Money: map[string]*analytics.MoneySums{}}
		byKey[k] = r
		order = append(order, k)
		return r
	}
	rows, err := s.pool.Query(ctx, sumsSQL, args...)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("sum rollups: %w", err))
	}
	for rows.Next() {
		var period time.Time
		var group, cur string
		var c [11]int64
		var rides [6]int64
		var m analytics.MoneySums
		if err := rows.Scan(&period, &group, &cur, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9], &c[10],
			&m.Gross, &m.Refunds, &m.RoomRevenue, &m.SeatRevenue, &m.Captured, &m.PaymentsRefunded, &m.RideRevenue,
			&rides[0], &rides[1], &rides[2], &rides[3], &rides[4], &rides[5]); err != nil {
			rows.Close()
			return nil, pgxutil.MapError(fmt.Errorf("sum rollups: %w", err))
		}
		r := row(period, group)
		r.Bookings += c[0]
		r.Cancellations += c[1]
		r.StayBookings += c[2]
		r.StayNights += c[3]
		r.RoomNightsSold += c[4]
		r.RoomNightsAvailable += c[5]
		r.SeatsSold += c[6]
		r.SeatsAvailable += c[7]
		r.Authorizations += c[8]
		r.Failures += c[9]
		r.Fares += c[10]
		r.TripsRequested += rides[0]
		r.TripsCompleted += rides[1]
		r.TripsCancelled += rides[2]
		r.Assignments += rides[3]
		r.AssignmentSeconds += rides[4]
		r.SurgedFares += rides[5]
		if cur != "" {
			ms := r.Money[cur]
			if ms == nil {
				ms = &analytics.MoneySums{}
				r.Money[cur] = ms
			}
			ms.Gross += m.Gross
			ms.Refunds += m.Refunds
			ms.RoomRevenue += m.RoomRevenue
			ms.SeatRevenue += m.SeatRevenue
			ms.Captured += m.Captured
			ms.PaymentsRefunded += m.PaymentsRefunded
			ms.RideRevenue += m.RideRevenue
		}
	}
	if err := rows.Err(); err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("sum rollups: %w", err))
	}

	lead, err := s.pool.Query(ctx, leadSQL, args...)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("lead times: %w", err))
	}
	for lead.Next() {
		var period time.Time
		var group string
		var p50, p90 int64
		if err := lead.Scan(&period, &group, &p50, &p90); err != nil {
			lead.Close()
			return nil, pgxutil.MapError(fmt.Errorf("lead times: %w", err))
		}
		r := row(period, group)
		d50, d90 := time.Duration(p50)*time.Second, time.Duration(p90)*time.Second
		r.LeadP50, r.LeadP90 = &d50, &d90
	}
	if err := lead.Err(); err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("lead times: %w", err))
	}

	if q.GroupBy == analytics.NoGroup {
		if err := s.outstanding(ctx, q, row); err != nil {
			return nil, err
		}
	}
	out := make([]analytics.Sums, 0, len(order))
	sortKeys(order)
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out, nil
}

// outstanding adds the receivables balance at the end of each period of q to its row
// (making the row when the balance is not zero).
func (s *Store) outstanding(ctx context.Context, q analytics.Query, row func(time.Time, string) *analytics.Sums) error {
	ends := map[time.Time]time.Time{} // period end → period start
	var lasts []time.Time
	for d := q.Start; !d.After(q.End); {
		start, end := q.Period(d)
		ends[end] = start
		lasts = append(lasts, end)
		d = end.AddDate(0, 0, 1)
	}
	rows, err := s.pool.Query(ctx, outstandingSQL, lasts)
	if err != nil {
		return pgxutil.MapError(fmt.Errorf("receivables: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var last time.Time
		var cur string
		var amount int64
		if err := rows.Scan(&last, &cur, &amount); err != nil {
			return pgxutil.MapError(fmt.Errorf("receivables: %w", err))
		}
		r := row(ends[last.UTC()], "")
		ms := r.Money[cur]
		if ms == nil {
			ms = &analytics.MoneySums{}
			r.Money[cur] = ms
		}
		ms.Outstanding = amount
	}
	return pgxutil.MapError(rows.Err())
}

// sortKeys orders rows by period and group.
func sortKeys(keys []rowKey) {
	slices.SortFunc(keys, func(a, b rowKey) int {
		if c := a.period.Compare(b.period); c != 0 {
			return c
		}
		switch {
		case a.group < b.group:
			return -1
		case a.group > b.group:
			return 1
		}
		return 0
	})
}

const windowSQL = `
SELECT
  (SELECT count(*) FROM reservations WHERE booked_at > $1 AND booked_at <= $2),
  (SELECT count(*) FROM reservations WHERE cancelled_at > $1 AND cancelled_at <= $2),
  (SELECT coalesce(sum(authorizations), 0)::bigint FROM payment_hours WHERE hour >= date_trunc('hour', $3::timestamptz) AND hour <= $2),
  (SELECT coalesce(sum(failures), 0)::bigint FROM payment_hours WHERE hour >= date_trunc('hour', $3::timestamptz) AND hour <= $2)`

// Window implements analytics.Store. The payment window is counted in whole clock hours:
// the hour holding now-FailureWindow through the current one.
func (s *Store) Window(ctx context.Context, now time.Time) (analytics.Window, error) {
	var w analytics.Window
	err := s.pool.QueryRow(ctx, windowSQL, now.Add(-analytics.CancellationWindow), now, now.Add(-analytics.FailureWindow)).
		Scan(&w.Bookings, &w.Cancellations, &w.Authorizations, &w.Failures)
	if err != nil {
		return w, pgxutil.MapError(fmt.Errorf("measure alert windows: %w", err))
	}
	return w, nil
}
