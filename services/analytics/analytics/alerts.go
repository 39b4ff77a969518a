package analytics

import (
	"fmt"
	"time"
)

// AlertRule names a rule that raises alerts.
type AlertRule string

// The rules.
const (
	RuleCancellationRate AlertRule = "cancellation_rate"
	RuleConsumerLag      AlertRule = "consumer_lag"
	RulePaymentFailures  AlertRule = "payment_failure_spike"
)

// Alert is a rule's condition that became true (raised) and, maybe, false again
// (cleared).
type Alert struct {
	ID        string
	Rule      AlertRule
	Subject   string
	Message   string
	Value     float64
	Threshold float64
	RaisedAt  time.Time
	// ClearedAt is zero while the alert is open.
	ClearedAt time.Time
}

// Condition is a rule's condition that holds now.
type Condition struct {
	Rule      AlertRule
	Subject   string
	Message   string
	Value     float64
	Threshold float64
}

// SourceLag is how far behind a source's consumer is.
type SourceLag struct {
	// Source is the source service.
	Source string
	// Events is how many events received from the source are not applied yet.
	Events int64
	// Silent is how long the source's stream has said nothing (no event, no heartbeat):
	// the source is down or unreachable, and what it does now waits.
	Silent time.Duration
}

// Window is what the rules measure over their windows.
type Window struct {
	// Bookings and Cancellations are those of the last CancellationWindow.
	Bookings, Cancellations int64
	// Authorizations and Failures are the payment attempts of the last FailureWindow.
	Authorizations, Failures int64
	// Lags are the sources' consumer lags.
	Lags []SourceLag
}

// The rules' windows.
const (
	CancellationWindow = 24 * time.Hour
	FailureWindow      = time.Hour
)

// AlertRules are the thresholds of the rules.
type AlertRules struct {
	// CancellationRate is the cancellation rate over CancellationWindow above which an
	// alert is raised, once there were at least MinBookings bookings.
	CancellationRate float64
	MinBookings      int64
	// FailureRate is the payment failure rate over FailureWindow above which an alert
	// is raised, once there were at least MinAttempts attempts.
	FailureRate float64
	MinAttempts int64
	// LagEvents and LagAge bound a source's consumer lag.
	LagEvents int64
	LagAge    time.Duration
}

// DefaultAlertRules are the rules' default thresholds.
var DefaultAlertRules = AlertRules{CancellationRate: 0.25, MinBookings: 20, FailureRate: 0.2, MinAttempts: 20,
	LagEvents: 1000, LagAge: 5 * time.Minute}

// Evaluate returns the conditions that hold in w.
func (r AlertRules) Evaluate(w Window) []Condition {
	var out []Condition
	if w.Bookings >= r.MinBookings && w.Bookings > 0 {
		if rate := ratio(w.Cancellations, w.Bookings); rate > r.CancellationRate {
			out = append(out, Condition{Rule: RuleCancellationRate, Value: rate, Threshold: r.CancellationRate,
				Message: fmt.Sprintf("%.1f%% of the %d reservations confirmed in the last 24 h were cancelled (threshold %.1f%%)",
					rate*100, w.Bookings, r.CancellationRate*100)})
		}
	}
	if attempts := w.Authorizations + w.Failures; attempts >= r.MinAttempts && attempts > 0 {
		if rate := ratio(w.Failures, attempts); rate > r.FailureRate {
			out = append(out, Condition{Rule: RulePaymentFailures, Value: rate, Threshold: r.FailureRate,
				Message: fmt.Sprintf("%.1f%% of %d payment attempts in the last hour failed (threshold %.1f%%)",
					rate*100, attempts, r.FailureRate*100)})
		}
	}
	for _, l := range w.Lags {
		switch {
		case l.Events > r.LagEvents:
			out = append(out, Condition{Rule: RuleConsumerLag, Subject: l.Source, Value: float64(l.Events), Threshold: float64(r.LagEvents),
				Message: fmt.Sprintf("%d events of %s wait to be applied (threshold %d)", l.Events, l.Source, r.LagEvents)})
		case l.Silent > r.LagAge:
			out = append(out, Condition{Rule: RuleConsumerLag, Subject: l.Source, Value: l.Silent.Seconds(), Threshold: r.LagAge.Seconds(),
				Message: fmt.Sprintf("the event stream of %s has been silent for %s (threshold %s)", l.Source, l.Silent.Round(time.Second), r.LagAge)})
		}
	}
	return out
}
