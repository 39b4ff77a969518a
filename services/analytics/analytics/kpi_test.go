package analytics_test

import (
	"math"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/analytics/analytics"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestCompute: each KPI is the ratio of its sums, computed by hand here.
func TestCompute(t *testing.T) {
	s := analytics.Sums{
		Bookings: 8, Cancellations: 2, StayBookings: 4, StayNights: 10,
		RoomNightsSold: 30, RoomNightsAvailable: 120, SeatsSold: 75, SeatsAvailable: 100,
		Authorizations: 9, Failures: 3,
		Money: map[string]*analytics.MoneySums{
			"EUR": {Gross: 100000, Refunds: 25000, RoomRevenue: 270000, SeatRevenue: 750001},
			"CHF": {Gross: 500},
		},
	}
	r := analytics.Compute(s)
	floats := []struct {
		name      string
		got, want float64
	}{
		{"cancellation rate", r.CancellationRate, 0.25},
		{"average length of stay", r.AverageLengthOfStay, 2.5},
		{"occupancy", r.Occupancy, 0.25},
		{"load factor", r.LoadFactor, 0.75},
		{"payment failure rate", r.FailureRate, 0.25},
	}
	for _, f := range floats {
		if math.Abs(f.got-f.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if len(r.Currencies) != 2 || r.Currencies[0].Currency != "CHF" || r.Currencies[1].Currency != "EUR" {
		t.Fatalf("currencies %+v, want CHF then EUR", r.Currencies)
	}
	eur := r.Currencies[1]
	ints := []struct {
		name      string
		got, want int64
	}{
		{"net", eur.Net, 75000},
		{"ADR", eur.ADR, 9000},       // 270000 / 30
		{"RevPAR", eur.RevPAR, 2250}, // 270000 / 120
		{"yield", eur.Yield, 10000},  // 750001 / 75 = 10000.01
		{"CHF net", r.Currencies[0].Net, 500},
		{"CHF ADR without revenue", r.Currencies[0].ADR, 0},
	}
	for _, i := range ints {
		if i.got != i.want {
			t.Errorf("%s = %d, want %d", i.name, i.got, i.want)
		}
	}
	empty := analytics.Compute(analytics.Sums{})
	if empty.CancellationRate != 0 || empty.Occupancy != 0 || empty.LoadFactor != 0 || empty.FailureRate != 0 || empty.AverageLengthOfStay != 0 {
		t.Errorf("ratios of zero sums = %+v, want 0 (no division by zero)", empty)
	}
}

func TestDivRound(t *testing.T) {
	for _, c := range []struct{ a, b, want int64 }{
		{10, 4, 3}, {9, 4, 2}, {-10, 4, -3}, {-9, 4, -2}, {7, 0, 0}, {1, 3, 0}, {2, 3, 1},
		{math.MaxInt64, 1, math.MaxInt64},
	} {
		if got := analytics.DivRound(c.a, c.b); got != c.want {
			t.Errorf("DivRound(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestProjectReservation: a reservation is booked once and cancelled once, whatever
// events repeat; a stay's price is spread over its nights adding up to the price.
func TestProjectReservation(t *testing.T) {
	stay := analytics.Reservation{ID: "r1", Unit: analytics.UnitProperty, UnitID: "p1", Stage: analytics.StageBooked,
		Quantity: 2, Nights: 3, FirstNight: day("2026-12-10"), ServiceStart: day("2026-12-10"),
		Price: money.New(1000, "EUR"), At: day("2026-12-01").Add(10 * time.Hour)}
	eff := analytics.ProjectReservation(nil, false, stay)
	if !eff.Book || eff.Cancel || eff.Booking.Bookings != 1 || eff.Booking.StayNights != 3 || eff.Booking.Gross != 1000 ||
		!eff.Booking.Day.Equal(day("2026-12-01")) {
		t.Fatalf("booking effect %+v", eff)
	}
	var revenue int64
	for i, u := range eff.Usage {
		revenue += u.Revenue
		if u.Sold != 2 || !u.Day.Equal(day("2026-12-10").AddDate(0, 0, i)) {
			t.Errorf("night %d: %+v", i, u)
		}
	}
	if len(eff.Usage) != 3 || revenue != 1000 || eff.Usage[0].Revenue != 334 || eff.Usage[2].Revenue != 333 {
		t.Errorf("usage %+v, want 3 nights of 334+333+333", eff.Usage)
	}
	if again := analytics.ProjectReservation(&stay, false, stay); again.Book || again.Cancel {
		t.Errorf("a second booked event changed the rollups: %+v", again)
	}
	cancel := stay
	cancel.Stage, cancel.Refund, cancel.At = analytics.StageCancelled, 400, day("2026-12-05")
	c := analytics.ProjectReservation(&stay, false, cancel)
	if !c.Cancel || c.Booking.Cancellations != 1 || c.Booking.Refunds != 400 || len(c.Usage) != 3 || c.Usage[0].Sold != -2 || c.Usage[0].Revenue != -334 {
		t.Errorf("cancel effect %+v", c)
	}
	if twice := analytics.ProjectReservation(&stay, true, cancel); twice.Cancel || twice.Book {
		t.Errorf("a second cancellation changed the rollups: %+v", twice)
	}
	if held := analytics.ProjectReservation(nil, false, analytics.Reservation{Stage: analytics.StageCancelled}); held.Cancel || held.Book {
		t.Errorf("cancelling a hold that was never booked counted: %+v", held)
	}
	seat := analytics.Reservation{ID: "s1", Unit: analytics.UnitDeparture, UnitID: "d1", Stage: analytics.StageBooked, Quantity: 3,
		ServiceStart: day("2026-12-20").Add(23 * time.Hour), Price: money.New(30000, "EUR"), At: day("2026-12-01")}
	s := analytics.ProjectReservation(nil, false, seat)
	if len(s.Usage) != 1 || s.Usage[0].Sold != 3 || s.Usage[0].Revenue != 30000 || !s.Usage[0].Day.Equal(day("2026-12-20")) || s.Booking.StayBookings != 0 {
		t.Errorf("seat effect %+v", s)
	}
}

func TestProjectBill(t *testing.T) {
	b := analytics.Bill{ID: "b", Outstanding: true, Totals: []money.Money{money.New(500, "EUR")}, At: day("2026-12-02")}
	if d := analytics.ProjectBill(false, nil, b); len(d) != 1 || d[0].Finalized != 500 || d[0].Cleared != 0 {
		t.Errorf("finalize: %+v", d)
	}
	if d := analytics.ProjectBill(true, b.Totals, b); d != nil {
		t.Errorf("finalized again (a retried pay saga): %+v, want nothing", d)
	}
	paid := analytics.Bill{ID: "b", At: day("2026-12-03")}
	if d := analytics.ProjectBill(true, b.Totals, paid); len(d) != 1 || d[0].Cleared != 500 || !d[0].Day.Equal(day("2026-12-03")) {
		t.Errorf("paid: %+v", d)
	}
}

func TestPeriod(t *testing.T) {
	q := analytics.Query{Start: day("2026-12-02"), End: day("2026-12-20"), Granularity: analytics.ByWeek} // a Wednesday
	for _, c := range []struct{ d, start, end string }{
		{"2026-12-02", "2026-12-02", "2026-12-06"}, // cut at the start
		{"2026-12-09", "2026-12-07", "2026-12-13"},
		{"2026-12-20", "2026-12-14", "2026-12-20"},
	} {
		s, e := q.Period(day(c.d))
		if !s.Equal(day(c.start)) || !e.Equal(day(c.end)) {
			t.Errorf("week of %s = %s..%s, want %s..%s", c.d, s.Format(time.DateOnly), e.Format(time.DateOnly), c.start, c.end)
		}
	}
}

func TestEvaluate(t *testing.T) {
	r := analytics.AlertRules{CancellationRate: 0.2, MinBookings: 10, FailureRate: 0.5, MinAttempts: 4, LagEvents: 100, LagAge: time.Minute}
	cases := []struct {
		name string
		w    analytics.Window
		want []analytics.AlertRule
	}{
		{"quiet", analytics.Window{Bookings: 100, Cancellations: 20, Authorizations: 2, Failures: 2}, nil},
		{"cancellations above", analytics.Window{Bookings: 10, Cancellations: 3}, []analytics.AlertRule{analytics.RuleCancellationRate}},
		{"too few bookings", analytics.Window{Bookings: 9, Cancellations: 9}, nil},
		{"failure spike", analytics.Window{Authorizations: 1, Failures: 3}, []analytics.AlertRule{analytics.RulePaymentFailures}},
		{"lag in events", analytics.Window{Lags: []analytics.SourceLag{{Source: "booking", Events: 101}}}, []analytics.AlertRule{analytics.RuleConsumerLag}},
		{"silent source", analytics.Window{Lags: []analytics.SourceLag{{Source: "fare", Silent: 2 * time.Minute}, {Source: "booking"}}}, []analytics.AlertRule{analytics.RuleConsumerLag}},
	}
	for _, c := range cases {
		got := r.Evaluate(c.w)
		if len(got) != len(c.want) {
			t.Errorf("%s: %+v, want rules %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i].Rule != c.want[i] || got[i].Message == "" {
				t.Errorf("%s: %+v, want rules %v", c.name, got, c.want)
			}
		}
	}
}
