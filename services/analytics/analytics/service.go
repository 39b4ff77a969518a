package analytics

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// Store is the storage the use cases need (analyticspg implements it).
type Store interface {
	// Sums returns the sums of q's periods and groups that have any data, ordered by
	// period start and group.
	Sums(ctx context.Context, q Query) ([]Sums, error)
	// Window measures the bookings, cancellations and payment attempts of the rules'
	// windows ending at now.
	Window(ctx context.Context, now time.Time) (Window, error)
	// SyncAlerts raises an alert for each condition without an open alert of its rule
	// and subject, and clears the open alerts whose condition no longer holds, emitting
	// their events; it returns what it raised and cleared.
	SyncAlerts(ctx context.Context, now time.Time, conds []Condition) (raised, cleared []Alert, err error)
	// Alerts lists alerts, newest first.
	Alerts(ctx context.Context, openOnly bool, limit int) ([]Alert, error)
}

// Lags reports the consumers' lag per source (the running consumers know it).
type Lags func(ctx context.Context) ([]SourceLag, error)

// Service is the analytics use cases.
type Service struct {
	store Store
	lags  Lags
	rules AlertRules
	now   func() time.Time
}

// Options configure a Service.
type Options struct {
	// Lags reports consumer lags for the lag rule; nil measures none.
	Lags Lags
	// Rules are the alert thresholds; the zero value means DefaultAlertRules.
	Rules AlertRules
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns the use cases over store.
func New(store Store, o Options) *Service {
	if o.Rules == (AlertRules{}) {
		o.Rules = DefaultAlertRules
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: store, lags: o.Lags, rules: o.Rules, now: o.Now}
}

// mayRead returns PERMISSION_DENIED unless c is an operator or a service.
func mayRead(c caller.Caller) error {
	if !c.Privileged() {
		return errs.Denied("", "analytics are for operators only")
	}
	return nil
}

// KPIs answers q for c: the sums of each period and group, and the KPIs computed from
// them.
func (s *Service) KPIs(ctx context.Context, c caller.Caller, q Query) ([]Row, error) {
	if err := mayRead(c); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	sums, err := s.store.Sums(ctx, q)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, len(sums))
	for i, x := range sums {
		rows[i] = Compute(x)
	}
	return rows, nil
}

// Validate reports a query that cannot be answered, naming the field.
func (q Query) Validate() error {
	var v errs.Violations
	v.Check(!q.Start.IsZero(), "start_date", "is required")
	v.Check(!q.End.IsZero(), "end_date", "is required")
	if !q.Start.IsZero() && !q.End.IsZero() {
		v.Check(!q.End.Before(q.Start), "end_date", "must not be before start_date")
		v.Check(!q.End.After(q.Start.AddDate(0, 0, MaxRangeDays)), "end_date", "must be at most %d days after start_date", MaxRangeDays)
	}
	return v.Err()
}

// Alerts lists alerts for c, newest first.
func (s *Service) Alerts(ctx context.Context, c caller.Caller, openOnly bool, limit int) ([]Alert, error) {
	if err := mayRead(c); err != nil {
		return nil, err
	}
	return s.store.Alerts(ctx, openOnly, limit)
}

// EvaluateAlerts measures the rules' windows now, and raises and clears alerts to match.
func (s *Service) EvaluateAlerts(ctx context.Context) (raised, cleared []Alert, err error) {
	now := s.now()
	w, err := s.store.Window(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	if s.lags != nil {
		if w.Lags, err = s.lags(ctx); err != nil {
			return nil, nil, err
		}
	}
	return s.store.SyncAlerts(ctx, now, s.rules.Evaluate(w))
}

// RunAlerts evaluates the alerts every interval until ctx ends, reporting failures to
// onError.
func (s *Service) RunAlerts(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := s.EvaluateAlerts(ctx); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}
