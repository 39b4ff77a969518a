package analytics

import (
	"sort"
	"time"
)

// Granularity is the length of a query's periods.
type Granularity int

// The granularities.
const (
	ByDay Granularity = iota
	ByWeek
	Total
)

// Dimension is what a query's rows are grouped by.
type Dimension string

// The dimensions; NoGroup is one row per period.
const (
	NoGroup     Dimension = ""
	ByProperty  Dimension = "property"
	ByDeparture Dimension = "departure"
	ByRoute     Dimension = "route"
	ByCity      Dimension = "city"
)

// MaxRangeDays is the longest range a query may cover, in days after the start.
const MaxRangeDays = 730

// Query is a KPI query: the UTC days from Start to End (inclusive), cut into periods and
// grouped.
type Query struct {
	Start, End  time.Time
	Granularity Granularity
	GroupBy     Dimension
}

// Period returns the first and last day of the period of q holding day.
func (q Query) Period(day time.Time) (time.Time, time.Time) {
	switch q.Granularity {
	case ByWeek:
		start := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // back to Monday
		end := start.AddDate(0, 0, 6)
		if start.Before(q.Start) {
			start = q.Start
		}
		if end.After(q.End) {
			end = q.End
		}
		return start, end
	case Total:
		return q.Start, q.End
	}
	return day, day
}

// Sums are what storage adds up for one period and group: counts, and money per
// currency. Every KPI is computed from them (Compute).
type Sums struct {
	PeriodStart, PeriodEnd time.Time
	Group                  string

	Bookings, Cancellations, StayBookings, StayNights int64
	// LeadP50 and LeadP90 are the percentiles of the bookings' lead times (nearest rank,
	// computed by storage over the bookings themselves); nil without bookings.
	LeadP50, LeadP90 *time.Duration

	RoomNightsSold, RoomNightsAvailable int64
	SeatsSold, SeatsAvailable           int64
	Authorizations, Failures            int64
	Fares, SurgedFares                  int64
	TripsRequested, TripsCompleted      int64
	TripsCancelled, Assignments         int64
	// AssignmentSeconds is the sum of the assignments' waits from request to driver.
	AssignmentSeconds int64
	// Ungrouped reports a row without grouping, which alone carries payment and
	// receivable figures.
	Ungrouped bool

	// Money holds the money sums per currency.
	Money map[string]*MoneySums
}

// MoneySums are a period's and group's money sums in one currency, in minor units.
type MoneySums struct {
	Gross, Refunds, RoomRevenue, SeatRevenue int64
	Captured, PaymentsRefunded               int64
	// Outstanding is the receivables owed at the end of the period (a balance, not a
	// sum over the period).
	Outstanding int64
	RideRevenue int64
}

// Row is one row of KPIs: the sums and the ratios computed from them.
type Row struct {
	Sums
	CancellationRate, AverageLengthOfStay, Occupancy, LoadFactor, FailureRate float64
	CompletionRate, SurgeShare                                                float64
	// AverageAssignment is AssignmentSeconds / Assignments; nil without assignments.
	AverageAssignment *time.Duration
	// Currencies are the money KPIs, ordered by currency code.
	Currencies []CurrencyKPIs
}

// CurrencyKPIs are a row's money KPIs in one currency.
type CurrencyKPIs struct {
	Currency string
	MoneySums
	Net, ADR, RevPAR, Yield int64
}

// Compute returns the KPIs of s: every ratio from the sums, never from other ratios.
func Compute(s Sums) Row {
	r := Row{Sums: s,
		CancellationRate:    ratio(s.Cancellations, s.Bookings),
		AverageLengthOfStay: ratio(s.StayNights, s.StayBookings),
		Occupancy:           ratio(s.RoomNightsSold, s.RoomNightsAvailable),
		LoadFactor:          ratio(s.SeatsSold, s.SeatsAvailable),
		FailureRate:         ratio(s.Failures, s.Authorizations+s.Failures),
		CompletionRate:      ratio(s.TripsCompleted, s.TripsRequested),
		SurgeShare:          ratio(s.SurgedFares, s.Fares),
	}
	if s.Assignments > 0 {
		d := time.Duration(DivRound(s.AssignmentSeconds, s.Assignments)) * time.Second
		r.AverageAssignment = &d
	}
	codes := make([]string, 0, len(s.Money))
	for c := range s.Money {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		m := *s.Money[c]
		r.Currencies = append(r.Currencies, CurrencyKPIs{Currency: c, MoneySums: m,
			Net:    m.Gross - m.Refunds,
			ADR:    DivRound(m.RoomRevenue, s.RoomNightsSold),
			RevPAR: DivRound(m.RoomRevenue, s.RoomNightsAvailable),
			Yield:  DivRound(m.SeatRevenue, s.SeatsSold),
		})
	}
	return r
}

// ratio returns a / b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// DivRound returns a / b rounded half away from zero, 0 when b is 0.
func DivRound(a, b int64) int64 {
	if b == 0 {
		return 0
	}
	q, r := a/b, a%b
	if 2*abs(r) >= abs(b) {
		if (a < 0) != (b < 0) {
			q--
		} else {
			q++
		}
	}
	return q
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
