package analyticsapp_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"

	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/analytics/sourceevents"
)

// waitSynced waits until analytics has applied every event of the types it consumes
// that each running source has logged.
func (m *mesh) waitSynced(t *testing.T) {
	t.Helper()
	sources := map[string]*pgxpool.Pool{"booking": m.booking.Pool, "fare": m.fare.Pool, "payment": m.payment.Pool}
	for _, s := range sourceevents.Sources {
		pool := sources[s.Name]
		if pool == nil {
			continue
		}
		var head int64
		grpctest.Eventually(t, 10*time.Second, s.Name+"'s outbox sequenced", func() bool {
			var waiting int64
			err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM outbox),
				(SELECT coalesce(max(seq), 0) FROM event_log WHERE type = ANY($1))`, s.Types).Scan(&waiting, &head)
			return err == nil && waiting == 0
		})
		waitApplied(t, m.analytics.Pool, s.Name, func(p consumer.Position) bool { return p.Seq >= head })
	}
}

// day is the scripted day's reservations and payments, through the real services.
type day struct {
	today                time.Time
	property             *bookingv1.Property
	departure            *bookingv1.Departure
	stayA, stayB, seatsC *bookingv1.Reservation
	refundB              int64
	captured             int64
}

// scriptDay runs the day: a property and a departure; stay A (2 rooms, 3 nights) and
// stay B (1 room, 2 nights) confirmed, B cancelled a week ahead (full refund); 3 seats
// (C) confirmed and 1 seat only held; two payments authorized (one captured) and one
// declined.
func scriptDay(t *testing.T, m *mesh) day {
	d := day{today: time.Now().UTC().Truncate(24 * time.Hour)}
	d.property = m.property(t)
	d.departure = m.departure(t, d.today.AddDate(0, 0, 20).Add(12*time.Hour))
	d.stayA = m.confirm(t, m.stay(t, d.property.GetId(), 2, d.today.AddDate(0, 0, 10), d.today.AddDate(0, 0, 13)).GetId())
	d.stayB = m.confirm(t, m.stay(t, d.property.GetId(), 1, d.today.AddDate(0, 0, 10), d.today.AddDate(0, 0, 12)).GetId())
	d.seatsC = m.confirm(t, m.seats(t, d.departure.GetId(), 3).GetId())
	m.seats(t, d.departure.GetId(), 1) // held only: counts nowhere
	cancelled := m.cancel(t, d.stayB.GetId())
	d.refundB = cancelled.GetCancellation().GetRefundableAmount().GetAmountMinor()

	p1, err := m.pay(t, "tok_sim_visa", 15000)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if _, err := m.pay(t, "tok_sim_mastercard", 2500); err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if _, err := m.pay(t, "tok_sim_card_declined", 9900); err == nil {
		// A decline may come back as a payment in a failed state rather than an error;
		// either way payment emits payment.payment.failed.
		t.Log("declined authorization returned no error")
	}
	d.captured = 12000
	if _, err := m.payments.CapturePayment(grpctest.Context(t), &paymentv1.CapturePaymentRequest{PaymentId: p1.GetId(), Amount: eur(d.captured), RequestId: ids.New()}); err != nil {
		t.Fatalf("capture: %v", err)
	}
	m.waitSynced(t)
	return d
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// lead is a booking's lead time as the test computes it: service start minus the
// confirmation's time (the reservation's update time; the event commits a moment later).
func lead(r *bookingv1.Reservation) time.Duration {
	start := r.GetSeat().GetDepartureTime().AsTime()
	if s := r.GetStay(); s != nil {
		d := s.GetCheckInDate()
		start = time.Date(int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay()), 0, 0, 0, 0, time.UTC)
	}
	return start.Sub(r.GetUpdateTime().AsTime())
}

// TestScriptedDay: a day of events through the real booking, fare and payment services
// gives KPIs equal to values computed by hand from what the services answered; grouped
// rows split them by property, route and city; and a rebuild from the sources' logs gives
// tables identical to the incrementally maintained ones.
func TestScriptedDay(t *testing.T) {
	m := newMesh(t, nil)
	d := scriptDay(t, m)
	pA, pB, pC := d.stayA.GetPrice().GetAmountMinor(), d.stayB.GetPrice().GetAmountMinor(), d.seatsC.GetPrice().GetAmountMinor()
	if pA != 2*3*9000 || pC != 3*10000 || d.refundB != pB {
		t.Fatalf("prices A %d, B %d (refund %d), C %d: the fixture's rate cards changed", pA, pB, d.refundB, pC)
	}
	end := d.today.AddDate(0, 0, 30)

	t.Run("total", func(t *testing.T) {
		rows := m.query(t, d.today, end, analyticsv1.Granularity_GRANULARITY_TOTAL, analyticsv1.Dimension_DIMENSION_UNSPECIFIED)
		if len(rows) != 1 {
			t.Fatalf("%d rows, want 1: %v", len(rows), rows)
		}
		r := rows[0]
		b, s, st, p := r.GetBookings(), r.GetStays(), r.GetSeats(), r.GetPayments()
		ints := []struct {
			name      string
			got, want int64
		}{
			{"bookings", b.GetBookings(), 3}, {"cancellations", b.GetCancellations(), 1}, {"stay bookings", b.GetStayBookings(), 2},
			{"room-nights sold", s.GetRoomNightsSold(), 6}, {"room-nights available", s.GetRoomNightsAvailable(), 15 * 31},
			{"seats sold", st.GetSeatsSold(), 3}, {"seats available", st.GetSeatsAvailable(), 104},
			{"authorizations", p.GetAuthorizations(), 2}, {"failures", p.GetFailures(), 1},
		}
		for _, c := range ints {
			if c.got != c.want {
				t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
			}
		}
		floats := []struct {
			name      string
			got, want float64
		}{
			{"cancellation rate", b.GetCancellationRate(), 1.0 / 3}, {"average length of stay", b.GetAverageLengthOfStay(), 2.5},
			{"occupancy", s.GetOccupancy(), 6.0 / 465}, {"load factor", st.GetLoadFactor(), 3.0 / 104},
			{"payment failure rate", p.GetFailureRate(), 1.0 / 3},
		}
		for _, c := range floats {
			if !near(c.got, c.want) {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if len(r.GetCurrencies()) != 1 || r.GetCurrencies()[0].GetCurrencyCode() != "EUR" {
			t.Fatalf("currencies %v, want EUR only", r.GetCurrencies())
		}
		c := r.GetCurrencies()[0]
		money := []struct {
			name      string
			got, want int64
		}{
			{"gross", c.GetGrossRevenue().GetAmountMinor(), pA + pB + pC}, {"refunds", c.GetRefunds().GetAmountMinor(), pB},
			{"net", c.GetNetRevenue().GetAmountMinor(), pA + pC}, {"room revenue", c.GetRoomRevenue().GetAmountMinor(), pA},
			{"ADR", c.GetAdr().GetAmountMinor(), 9000}, {"RevPAR", c.GetRevpar().GetAmountMinor(), int64(math.Round(float64(pA) / 465))},
			{"seat revenue", c.GetSeatRevenue().GetAmountMinor(), pC}, {"yield", c.GetYield().GetAmountMinor(), 10000},
			{"captured", c.GetCaptured().GetAmountMinor(), d.captured},
		}
		for _, x := range money {
			if x.got != x.want {
				t.Errorf("%s = %d, want %d", x.name, x.got, x.want)
			}
		}
		leads := []time.Duration{lead(d.stayA), lead(d.stayB), lead(d.seatsC)}
		// Stays check in on day 10, the seats leave on day 20: B confirmed after A.
		p50, p90 := leads[1], leads[2]
		for _, c := range []struct {
			name      string
			got, want time.Duration
		}{{"lead p50", b.GetLeadTimeP50().AsDuration(), p50}, {"lead p90", b.GetLeadTimeP90().AsDuration(), p90}} {
			if diff := c.got - c.want; diff < -5*time.Second || diff > 5*time.Second {
				t.Errorf("%s = %v, want %v (±5 s)", c.name, c.got, c.want)
			}
		}
	})

	t.Run("grouped", func(t *testing.T) {
		got := map[string]string{}
		for _, by := range []analyticsv1.Dimension{analyticsv1.Dimension_DIMENSION_PROPERTY, analyticsv1.Dimension_DIMENSION_ROUTE,
			analyticsv1.Dimension_DIMENSION_DEPARTURE, analyticsv1.Dimension_DIMENSION_CITY} {
			for _, r := range m.query(t, d.today, end, analyticsv1.Granularity_GRANULARITY_TOTAL, by) {
				if r.GetPayments() != nil {
					t.Errorf("%v row %q carries payments", by, r.GetGroup())
				}
				got[by.String()+"/"+r.GetGroup()] = fmt.Sprintf("bookings=%d rn=%d/%d seats=%d/%d",
					r.GetBookings().GetBookings(), r.GetStays().GetRoomNightsSold(), r.GetStays().GetRoomNightsAvailable(),
					r.GetSeats().GetSeatsSold(), r.GetSeats().GetSeatsAvailable())
			}
		}
		want := map[string]string{
			"DIMENSION_PROPERTY/" + d.property.GetId():   "bookings=2 rn=6/465 seats=0/0",
			"DIMENSION_ROUTE/FRA-JFK":                    "bookings=1 rn=0/0 seats=3/104",
			"DIMENSION_DEPARTURE/" + d.departure.GetId(): "bookings=1 rn=0/0 seats=3/104",
			"DIMENSION_CITY/berlin":                      "bookings=2 rn=6/465 seats=0/0",
			"DIMENSION_CITY/FRA":                         "bookings=1 rn=0/0 seats=3/104",
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %q, want %q", k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("groups %v, want %v", got, want)
		}
	})

	t.Run("by day", func(t *testing.T) {
		night := d.today.AddDate(0, 0, 10)
		rows := m.query(t, night, night.AddDate(0, 0, 3), analyticsv1.Granularity_GRANULARITY_DAY, analyticsv1.Dimension_DIMENSION_UNSPECIFIED)
		sold := map[string]int64{}
		for _, r := range rows {
			sold[fmt.Sprintf("%d-%02d-%02d", r.GetPeriodStart().GetYear(), r.GetPeriodStart().GetMonth(), r.GetPeriodStart().GetDay())] = r.GetStays().GetRoomNightsSold()
			if r.GetStays().GetRoomNightsAvailable() != 15 {
				t.Errorf("day %v: %d room-nights available, want 15", r.GetPeriodStart(), r.GetStays().GetRoomNightsAvailable())
			}
		}
		for i, want := range []int64{2, 2, 2, 0} {
			k := night.AddDate(0, 0, i).Format(time.DateOnly)
			if sold[k] != want {
				t.Errorf("night %s: %d room-nights sold, want %d (B's cancelled night gives back its room)", k, sold[k], want)
			}
		}
	})

	t.Run("rebuild equals incremental", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := analyticsapp.Rebuild(ctx, analyticsapp.RebuildConfig{Pool: m.rebuildPool, Sources: m.sourceClients()}); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		assertSameTables(t, m.analytics.Pool, "analytics", rebuildSchema)
	})

	t.Run("operators only", func(t *testing.T) {
		req := &analyticsv1.QueryKpisRequest{StartDate: date(d.today), EndDate: date(end)}
		_, err := m.custKpis.QueryKpis(grpctest.Context(t), req)
		grpctest.WantCode(t, err, codes.PermissionDenied)
		_, err = m.anonKpis.QueryKpis(grpctest.Context(t), req)
		grpctest.WantCode(t, err, codes.Unauthenticated)
		_, err = m.custKpis.ListAnalyticsAlerts(grpctest.Context(t), &analyticsv1.ListAnalyticsAlertsRequest{})
		grpctest.WantCode(t, err, codes.PermissionDenied)
	})

	t.Run("bad input", func(t *testing.T) {
		cases := map[string]*analyticsv1.QueryKpisRequest{
			"start_date": {EndDate: date(end)},
			"end_date":   {StartDate: date(end), EndDate: date(d.today)},
		}
		cases["granularity"] = &analyticsv1.QueryKpisRequest{StartDate: date(d.today), EndDate: date(end), Granularity: 9}
		cases["group_by"] = &analyticsv1.QueryKpisRequest{StartDate: date(d.today), EndDate: date(end), GroupBy: 9}
		long := date(d.today.AddDate(3, 0, 0))
		cases["end_date "] = &analyticsv1.QueryKpisRequest{StartDate: date(d.today), EndDate: long}
		feb30 := date(d.today)
		feb30.Month, feb30.Day = 2, 30
		cases["start_date "] = &analyticsv1.QueryKpisRequest{StartDate: feb30, EndDate: date(end)}
		for field, req := range cases {
			_, err := m.kpis.QueryKpis(grpctest.Context(t), req)
			grpctest.WantField(t, err, strings.TrimSpace(field))
		}
	})
}

// rollupTables are the tables a rebuild must reproduce exactly.
var rollupTables = []string{"units", "reservations", "booking_days", "booking_money_days", "usage_days",
	"payment_days", "payment_hours", "outstanding_bills", "receivable_days", "fare_days", "ride_days"}

// assertSameTables fails unless every rollup table holds the same rows in both schemas,
// and the consumers stand at the same sequences.
func assertSameTables(t *testing.T, pool *pgxpool.Pool, a, b string) {
	t.Helper()
	total := 0
	for _, table := range append(rollupTables, "consumer_cursors (consumer, source, seq)") {
		name, cols := table, "*"
		if i := strings.Index(table, " "); i > 0 {
			name, cols = table[:i], strings.Trim(table[i+1:], "()")
		}
		var onlyA, onlyB, rows int
		err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT
			(SELECT count(*) FROM (SELECT %[1]s FROM %[2]s.%[4]s EXCEPT ALL SELECT %[1]s FROM %[3]s.%[4]s) x),
			(SELECT count(*) FROM (SELECT %[1]s FROM %[3]s.%[4]s EXCEPT ALL SELECT %[1]s FROM %[2]s.%[4]s) y),
			(SELECT count(*) FROM %[2]s.%[4]s)`, cols, a, b, name)).Scan(&onlyA, &onlyB, &rows)
		if err != nil {
			t.Fatalf("compare %s: %v", name, err)
		}
		if onlyA != 0 || onlyB != 0 {
			t.Errorf("%s: %d rows only in %s, %d only in %s", name, onlyA, a, onlyB, b)
		}
		total += rows
	}
	if total < 10 {
		t.Errorf("only %d rows compared: the comparison proves nothing", total)
	}
}
