package payment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// Date is a calendar date (UTC).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns t's date in UTC.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{Year: y, Month: m, Day: d}
}

// Valid reports whether d is a real date from year 1 to 9999.
func (d Date) Valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return d.Time().Day() == d.Day
}

// Time returns the start of d in UTC.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String returns d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// EarliestSettlementDate is the earliest date a settlement request may name: there are no
// payments to settle before it.
var EarliestSettlementDate = Date{Year: 2000, Month: time.January, Day: 1}

// checkSettlementDate checks a date of a settlement request at now: a real date from
// EarliestSettlementDate to tomorrow (UTC), INVALID_ARGUMENT naming field otherwise.
func checkSettlementDate(field string, d Date, now time.Time) error {
	if !d.Valid() {
		return errs.Invalid(field, "must be a valid date")
	}
	if d.Time().Before(EarliestSettlementDate.Time()) {
		return errs.Invalid(field, "must be %s or later", EarliestSettlementDate)
	}
	if latest := DateOf(now).Time().AddDate(0, 0, 1); d.Time().After(latest) {
		return errs.Invalid(field, "must be at most tomorrow (UTC), %s", DateOf(latest))
	}
	return nil
}

// SettlementStatus is the main status of a settlement: RUNNING → COMPLETED or FAILED.
type SettlementStatus int

// The settlement statuses.
const (
	SettlementStatusUnspecified SettlementStatus = iota
	SettlementRunning
	SettlementCompleted
	SettlementFailed
)

var settlementStatusNames = []string{"unspecified", "running", "completed", "failed"}

// String returns the status's stored name.
func (s SettlementStatus) String() string {
	if s < 0 || int(s) >= len(settlementStatusNames) {
		return "unspecified"
	}
	return settlementStatusNames[s]
}

// ParseSettlementStatus is the inverse of String.
func ParseSettlementStatus(s string) SettlementStatus {
	for i, n := range settlementStatusNames {
		if n == s {
			return SettlementStatus(i)
		}
	}
	return SettlementStatusUnspecified
}

// Settlement is the settlement of one date: every successful capture and refund completed
// before the end of the date and not in an earlier settlement.
type Settlement struct {
	// ID is the settlement's UUID.
	ID string
	// Date is the settled date.
	Date Date
	// Status is RUNNING, COMPLETED or FAILED.
	Status SettlementStatus
	// Totals are per currency, ordered by currency code.
	Totals []SettlementTotal
	// PaymentCount is the number of distinct payments with an operation in the settlement.
	PaymentCount int
	// ProcessorReference is the processor's batch reference once COMPLETED.
	ProcessorReference string
	// FailureMessage explains a FAILED settlement.
	FailureMessage string
	// RequestID is the idempotency key of the RunSettlement call that started it.
	RequestID string
	// CreateTime, UpdateTime and CompleteTime (zero while RUNNING).
	CreateTime, UpdateTime, CompleteTime time.Time
	// Version increases by one on every change.
	Version int64
}

// SettlementTotal is a settlement's totals in one currency.
type SettlementTotal struct {
	// Currency is the ISO 4217 code.
	Currency string
	// Captured and Refunded are the sums settled, in minor units.
	Captured, Refunded int64
	// CaptureCount and RefundCount are the numbers of operations settled.
	CaptureCount, RefundCount int
}

// Net is captured minus refunded.
func (t SettlementTotal) Net() int64 { return t.Captured - t.Refunded }

// SettlementFilter selects settlements for ListSettlements.
type SettlementFilter struct {
	// Start and End, when set, bound the dates (inclusive).
	Start, End *Date
	// Statuses, when not empty, keeps only settlements in one of them.
	Statuses []SettlementStatus
}

// SettlementCursor is a position in the settlement list: latest date first, then newest run.
type SettlementCursor struct {
	Date       Date      `json:"d"`
	CreateTime time.Time `json:"t"`
	ID         string    `json:"i"`
}

// Totals sums successful captures and refunds per currency, ordered by currency code, and
// counts the distinct payments.
func Totals(ops []Operation) ([]SettlementTotal, int) {
	byCurrency := map[string]*SettlementTotal{}
	payments := map[string]bool{}
	for _, op := range ops {
		if op.Status != OpSucceeded || (op.Type != OpCapture && op.Type != OpRefund) {
			continue
		}
		t := byCurrency[op.Amount.Currency]
		if t == nil {
			t = &SettlementTotal{Currency: op.Amount.Currency}
			byCurrency[op.Amount.Currency] = t
		}
		if op.Type == OpCapture {
			t.Captured += op.Amount.Amount
			t.CaptureCount++
		} else {
			t.Refunded += op.Amount.Amount
			t.RefundCount++
		}
		payments[op.PaymentID] = true
	}
	totals := make([]SettlementTotal, 0, len(byCurrency))
	for _, t := range byCurrency {
		totals = append(totals, *t)
	}
	slices.SortFunc(totals, func(a, b SettlementTotal) int {
		switch {
		case a.Currency < b.Currency:
			return -1
		case a.Currency > b.Currency:
			return 1
		}
		return 0
	})
	return totals, len(payments)
}

// RunSettlement settles date under the request id requestID, which is the settlement's own
// identity (stored on it), so it needs no idempotency key: it collects the date's unsettled
// successful captures and refunds, totals them per currency, submits the batch to the
// processor and marks them settled. A retry with the same request id returns the same
// settlement (resuming it if it was interrupted); another request id for a date that has a
// RUNNING or COMPLETED settlement fails with ALREADY_EXISTS (ReasonSettlementExists). Only
// services and operators may settle.
func (s *Service) RunSettlement(ctx context.Context, c caller.Caller, date Date, requestID string) (Settlement, error) {
	if err := requirePrivileged(c); err != nil {
		return Settlement{}, err
	}
	return s.runSettlement(ctx, date, requestID)
}

// runSettlement is RunSettlement for the service's own daily settlement.
func (s *Service) runSettlement(ctx context.Context, date Date, requestID string) (Settlement, error) {
	if date == (Date{}) {
		return Settlement{}, errs.Invalid("settlement_date", "is required")
	}
	if err := checkSettlementDate("settlement_date", date, s.now()); err != nil {
		return Settlement{}, err
	}
	if !date.Time().Before(DateOf(s.now()).Time()) {
		return Settlement{}, errs.Invalid("settlement_date", "must be before today (UTC)")
	}
	if err := idempotency.CheckRequestID(requestID, true); err != nil {
		return Settlement{}, err
	}
	st, err := s.existingSettlement(ctx, date, requestID)
	if err == nil {
		return s.submitSettlement(ctx, st)
	}
	if !errors.Is(err, errs.NotFound) {
		return Settlement{}, err
	}
	now := s.now()
	st = Settlement{ID: NewID(), Date: date, Status: SettlementRunning, RequestID: requestID,
		CreateTime: now, UpdateTime: now, Version: 1}
	err = s.store.Transact(ctx, func(tx Tx) error {
		if err := tx.InsertSettlement(ctx, st); err != nil {
			return err
		}
		ops, err := tx.ClaimOperations(ctx, st.ID, date.Time().AddDate(0, 0, 1))
		if err != nil {
			return fmt.Errorf("claim operations: %w", err)
		}
		st.Totals, st.PaymentCount = Totals(ops)
		return tx.UpdateSettlement(ctx, st)
	})
	if errors.Is(err, errs.AlreadyExists) {
		// The same request id won a race with this call (either unique index may report
		// it), or another request settled the date: the first is this request's settlement.
		other, oerr := s.existingSettlement(ctx, date, requestID)
		switch {
		case oerr == nil:
			return s.submitSettlement(ctx, other)
		case !errors.Is(oerr, errs.NotFound):
			return Settlement{}, oerr
		}
		if errors.Is(err, &errs.Error{Kind: errs.AlreadyExists, Reason: ReasonSettlementExists}) {
			return Settlement{}, errs.Exists(ReasonSettlementExists, "%s already has a settlement started with another request_id", date).WithCause(err)
		}
		return Settlement{}, err
	}
	if err != nil {
		return Settlement{}, fmt.Errorf("start settlement: %w", err)
	}
	return s.submitSettlement(ctx, st)
}

// existingSettlement returns the settlement requestID started, checking it was for date.
func (s *Service) existingSettlement(ctx context.Context, date Date, requestID string) (Settlement, error) {
	st, err := s.store.GetSettlementByRequestID(ctx, requestID)
	if err != nil {
		return Settlement{}, err
	}
	if st.Date != date {
		e := errs.Invalid("request_id", "started the settlement of %s; use a new request_id for another date", st.Date)
		e.Reason = idempotency.ReasonRequestIDReused
		return Settlement{}, e
	}
	return st, nil
}

// submitSettlement submits a RUNNING settlement to the processor and completes it; a settlement
// that is not RUNNING is returned as it is. When the processor cannot be reached the
// settlement stays RUNNING and a retry with the same request id submits it again (the processor
// treats the batch id as idempotent); when it refuses, the settlement FAILED and its operations
// are free for the next one.
func (s *Service) submitSettlement(ctx context.Context, st Settlement) (Settlement, error) {
	if st.Status != SettlementRunning {
		return st, nil
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProcessorTimeout)
	ref, err := s.proc.Settle(pctx, SettlementBatch{ID: st.ID, Date: st.Date.Time(), Totals: st.Totals})
	cancel()
	var de *DeclineError
	if err != nil && !errors.As(err, &de) {
		s.log.Warn("submit settlement; it stays RUNNING until retried", "settlement_id", st.ID, "error", err)
		return st, nil
	}
	cctx, cancelCommit := commitContext(ctx)
	defer cancelCommit()
	var out Settlement
	err = s.store.Transact(cctx, func(tx Tx) error {
		cur, err := tx.LockSettlement(cctx, st.ID)
		if err != nil {
			return err
		}
		out = cur
		if cur.Status != SettlementRunning {
			return nil
		}
		now := s.now()
		cur.UpdateTime, cur.CompleteTime = now, now
		cur.Version++
		if de != nil {
			cur.Status, cur.FailureMessage = SettlementFailed, "the processor refused the batch: "+de.Message
			if err := tx.ReleaseOperations(cctx, cur.ID); err != nil {
				return fmt.Errorf("release operations: %w", err)
			}
			out = cur
			return tx.UpdateSettlement(cctx, cur)
		}
		cur.Status, cur.ProcessorReference = SettlementCompleted, ref
		if err := tx.UpdateSettlement(cctx, cur); err != nil {
			return fmt.Errorf("complete settlement: %w", err)
		}
		payments, err := tx.MarkSettled(cctx, cur.ID, now)
		if err != nil {
			return fmt.Errorf("mark payments settled: %w", err)
		}
		events := make([]Event, 0, len(payments)+1)
		for i := range payments {
			p := payments[i]
			p.Timeline = nil
			events = append(events, Event{Type: EventSettled, Key: p.ID, Payment: &p, SettlementID: cur.ID})
		}
		c := cur
		events = append(events, Event{Type: EventSettlementCompleted, Key: cur.ID, Settlement: &c})
		out = cur
		return tx.Emit(events...)
	})
	return out, err
}

// GetSettlement returns a settlement; only services and operators may read settlements.
func (s *Service) GetSettlement(ctx context.Context, c caller.Caller, id string) (Settlement, error) {
	if err := requirePrivileged(c); err != nil {
		return Settlement{}, err
	}
	if err := ids.Check("settlement_id", id); err != nil {
		return Settlement{}, err
	}
	return s.store.GetSettlement(ctx, id)
}

// ListSettlements returns one page of settlements matching f, latest date first; only
// services and operators may list them.
func (s *Service) ListSettlements(ctx context.Context, c caller.Caller, f SettlementFilter, pg Page) ([]Settlement, string, error) {
	if err := requirePrivileged(c); err != nil {
		return nil, "", err
	}
	for _, d := range []struct {
		field string
		date  *Date
	}{{"start_date", f.Start}, {"end_date", f.End}} {
		if d.date == nil {
			continue
		}
		if err := checkSettlementDate(d.field, *d.date, s.now()); err != nil {
			return nil, "", err
		}
	}
	if f.Start != nil && f.End != nil && f.End.Time().Before(f.Start.Time()) {
		return nil, "", errs.Invalid("end_date", "must not be before start_date")
	}
	limit, err := pg.limit()
	if err != nil {
		return nil, "", err
	}
	filter := page.Fingerprint("settlements", f.Start, f.End, f.Statuses)
	var cur SettlementCursor
	ok, err := pg.decodeCursor(filter, &cur, func() string { return cur.ID })
	if err != nil {
		return nil, "", err
	}
	var after *SettlementCursor
	if ok {
		if !cur.Date.Valid() {
			return nil, "", errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
		}
		after = &cur
	}
	sts, err := s.store.ListSettlements(ctx, f, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(sts) > limit {
		sts = sts[:limit]
		last := sts[limit-1]
		next = page.Encode(SettlementCursor{Date: last.Date, CreateTime: last.CreateTime, ID: last.ID}, filter)
	}
	return sts, next, nil
}
