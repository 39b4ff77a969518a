package payment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
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
	Date       Date
	CreateTime time.Time
	ID         string
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

// RunSettlement settles date under the idempotency key requestID: it collects the date's
// unsettled successful captures and refunds, totals them per currency, submits the batch to
// the processor and marks them settled. A retry with the same request id returns the same
// settlement (resuming it if it was interrupted); another request id for a date that has a
// RUNNING or COMPLETED settlement fails with ErrAlreadyExists.
func (s *Service) RunSettlement(ctx context.Context, date Date, requestID string) (Settlement, error) {
	if !date.Valid() {
		return Settlement{}, invalid("settlement_date", "must be a valid date")
	}
	if !date.Time().Before(DateOf(s.now()).Time()) {
		return Settlement{}, invalid("settlement_date", "must be before today (UTC)")
	}
	if err := validateRequestID(requestID, true); err != nil {
		return Settlement{}, err
	}
	st, err := s.existingSettlement(ctx, date, requestID)
	if err == nil {
		return s.submitSettlement(ctx, st)
	}
	if !isNotFound(err) {
		return Settlement{}, err
	}
	now := s.now()
	st = Settlement{ID: NewID(), Date: date, Status: SettlementRunning, RequestID: requestID,
		CreateTime: now, UpdateTime: now, Version: 1}
	err = s.store.InTx(ctx, func(tx Tx) error {
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
	if errors.Is(err, ErrAlreadyExists) {
		// The same request id won a race with this call, or another one settled the date.
		if other, err := s.existingSettlement(ctx, date, requestID); err == nil {
			return s.submitSettlement(ctx, other)
		} else if !isNotFound(err) {
			return Settlement{}, err
		}
		return Settlement{}, fmt.Errorf("%w: %s already has a settlement started with another request_id", ErrAlreadyExists, date)
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
		return Settlement{}, errRequestIDReused()
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
	err = s.store.InTx(cctx, func(tx Tx) error {
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
		return tx.Emit(cctx, events...)
	})
	return out, err
}

// GetSettlement returns a settlement.
func (s *Service) GetSettlement(ctx context.Context, id string) (Settlement, error) {
	if err := requireID("settlement_id", id); err != nil {
		return Settlement{}, err
	}
	return s.store.GetSettlement(ctx, id)
}

// ListSettlements returns one page of settlements matching f, latest date first.
func (s *Service) ListSettlements(ctx context.Context, f SettlementFilter, page Page) ([]Settlement, string, error) {
	if f.Start != nil && !f.Start.Valid() {
		return nil, "", invalid("start_date", "must be a valid date")
	}
	if f.End != nil && !f.End.Valid() {
		return nil, "", invalid("end_date", "must be a valid date")
	}
	if f.Start != nil && f.End != nil && f.End.Time().Before(f.Start.Time()) {
		return nil, "", invalid("end_date", "must not be before start_date")
	}
	limit, err := page.limit()
	if err != nil {
		return nil, "", err
	}
	filter := fingerprint("settlements", f.Start, f.End, f.Statuses)
	tok, err := decodePageToken(page.Token, filter)
	if err != nil {
		return nil, "", err
	}
	var after *SettlementCursor
	if tok != nil {
		d, err := time.Parse(time.DateOnly, tok.Date)
		if err != nil {
			return nil, "", invalid("page_token", "is malformed or was issued for different filters")
		}
		after = &SettlementCursor{Date: DateOf(d), CreateTime: tok.Time, ID: tok.ID}
	}
	sts, err := s.store.ListSettlements(ctx, f, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(sts) > limit {
		sts = sts[:limit]
		last := sts[limit-1]
		next = encodePageToken(pageToken{Filter: filter, Time: last.CreateTime, ID: last.ID, Date: last.Date.String()})
	}
	return sts, next, nil
}
