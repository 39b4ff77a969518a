package analyticsgrpc

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/analytics/analytics"
)

// dateFromProto returns d as UTC midnight; false for a missing or impossible date.
func dateFromProto(d *typev1.Date) (time.Time, bool) {
	if d == nil {
		return time.Time{}, false
	}
	y, m, day := int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay())
	t := time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	if y < 1 || y > 9999 || t.Year() != y || t.Month() != m || t.Day() != day {
		return time.Time{}, false
	}
	return t, true
}

func dateToProto(t time.Time) *typev1.Date {
	y, m, d := t.Date()
	return &typev1.Date{Year: int32(y), Month: int32(m), Day: int32(d)}
}

// queryFromProto validates and converts a KPI query request.
func queryFromProto(req *analyticsv1.QueryKpisRequest) (analytics.Query, error) {
	var v errs.Violations
	var q analytics.Query
	var ok bool
	if q.Start, ok = dateFromProto(req.GetStartDate()); !ok {
		v.Add("start_date", "is required and must be a real date")
	}
	if q.End, ok = dateFromProto(req.GetEndDate()); !ok {
		v.Add("end_date", "is required and must be a real date")
	}
	switch req.GetGranularity() {
	case analyticsv1.Granularity_GRANULARITY_UNSPECIFIED, analyticsv1.Granularity_GRANULARITY_DAY:
		q.Granularity = analytics.ByDay
	case analyticsv1.Granularity_GRANULARITY_WEEK:
		q.Granularity = analytics.ByWeek
	case analyticsv1.Granularity_GRANULARITY_TOTAL:
		q.Granularity = analytics.Total
	default:
		v.Add("granularity", "is not a known granularity")
	}
	switch req.GetGroupBy() {
	case analyticsv1.Dimension_DIMENSION_UNSPECIFIED:
		q.GroupBy = analytics.NoGroup
	case analyticsv1.Dimension_DIMENSION_PROPERTY:
		q.GroupBy = analytics.ByProperty
	case analyticsv1.Dimension_DIMENSION_DEPARTURE:
		q.GroupBy = analytics.ByDeparture
	case analyticsv1.Dimension_DIMENSION_ROUTE:
		q.GroupBy = analytics.ByRoute
	case analyticsv1.Dimension_DIMENSION_CITY:
		q.GroupBy = analytics.ByCity
	default:
		v.Add("group_by", "is not a known dimension")
	}
	if err := v.Err(); err != nil {
		return q, err
	}
	return q, nil
}

func moneyOf(amount int64, currency string) *typev1.Money {
	return &typev1.Money{AmountMinor: amount, CurrencyCode: currency}
}

// rowToProto converts a row of KPIs.
func rowToProto(r analytics.Row) *analyticsv1.KpiRow {
	out := &analyticsv1.KpiRow{
		PeriodStart: dateToProto(r.PeriodStart), PeriodEnd: dateToProto(r.PeriodEnd), Group: r.Group,
		Bookings: &analyticsv1.BookingKpis{Bookings: r.Bookings, Cancellations: r.Cancellations,
			CancellationRate: r.CancellationRate, StayBookings: r.StayBookings, AverageLengthOfStay: r.AverageLengthOfStay},
		Stays: &analyticsv1.StayKpis{RoomNightsSold: r.RoomNightsSold, RoomNightsAvailable: r.RoomNightsAvailable, Occupancy: r.Occupancy},
		Seats: &analyticsv1.SeatKpis{SeatsSold: r.SeatsSold, SeatsAvailable: r.SeatsAvailable, LoadFactor: r.LoadFactor},
		Rides: &analyticsv1.RideKpis{Fares: r.Fares, TripsRequested: r.TripsRequested, TripsCompleted: r.TripsCompleted,
			TripsCancelled: r.TripsCancelled, CompletionRate: r.CompletionRate, Assignments: r.Assignments,
			SurgedFares: r.SurgedFares, SurgeShare: r.SurgeShare},
	}
	if r.AverageAssignment != nil {
		out.Rides.AverageAssignmentTime = durationpb.New(*r.AverageAssignment)
	}
	if r.LeadP50 != nil {
		out.Bookings.LeadTimeP50, out.Bookings.LeadTimeP90 = durationpb.New(*r.LeadP50), durationpb.New(*r.LeadP90)
	}
	if r.Ungrouped {
		out.Payments = &analyticsv1.PaymentKpis{Authorizations: r.Authorizations, Failures: r.Failures, FailureRate: r.FailureRate}
	}
	for _, c := range r.Currencies {
		k := &analyticsv1.CurrencyKpis{CurrencyCode: c.Currency,
			GrossRevenue: moneyOf(c.Gross, c.Currency), Refunds: moneyOf(c.Refunds, c.Currency), NetRevenue: moneyOf(c.Net, c.Currency),
			RoomRevenue: moneyOf(c.RoomRevenue, c.Currency), Adr: moneyOf(c.ADR, c.Currency), Revpar: moneyOf(c.RevPAR, c.Currency),
			SeatRevenue: moneyOf(c.SeatRevenue, c.Currency), Yield: moneyOf(c.Yield, c.Currency),
			RideRevenue: moneyOf(c.RideRevenue, c.Currency),
		}
		if r.Ungrouped {
			k.Captured, k.PaymentsRefunded = moneyOf(c.Captured, c.Currency), moneyOf(c.PaymentsRefunded, c.Currency)
			k.OutstandingReceivables = moneyOf(c.Outstanding, c.Currency)
		}
		out.Currencies = append(out.Currencies, k)
	}
	return out
}

var ruleToProto = map[analytics.AlertRule]analyticsv1.AlertRule{
	analytics.RuleCancellationRate: analyticsv1.AlertRule_ALERT_RULE_CANCELLATION_RATE,
	analytics.RuleConsumerLag:      analyticsv1.AlertRule_ALERT_RULE_CONSUMER_LAG,
	analytics.RulePaymentFailures:  analyticsv1.AlertRule_ALERT_RULE_PAYMENT_FAILURE_SPIKE,
}

// alertToProto converts an alert.
func alertToProto(a analytics.Alert) *analyticsv1.AnalyticsAlert {
	out := &analyticsv1.AnalyticsAlert{Id: a.ID, Rule: ruleToProto[a.Rule], Subject: a.Subject, Message: a.Message,
		Value: a.Value, Threshold: a.Threshold, RaiseTime: timestamppb.New(a.RaisedAt)}
	if !a.ClearedAt.IsZero() {
		out.ClearTime = timestamppb.New(a.ClearedAt)
	}
	return out
}

// AlertEvent returns the payload of an alert's events, for the store
// (analyticspg.Options.AlertEvent).
func AlertEvent(a analytics.Alert) proto.Message {
	return &analyticsv1.AlertEvent{Alert: alertToProto(a)}
}
