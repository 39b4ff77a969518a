package booking

import (
	"errors"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

func TestStateMachine(t *testing.T) {
	all := []Status{StatusHeld, StatusConfirmed, StatusCheckedIn, StatusCompleted, StatusCancelled, StatusExpired}
	allowed := map[[2]Status]bool{
		{StatusHeld, StatusConfirmed}:      true,
		{StatusHeld, StatusCancelled}:      true,
		{StatusHeld, StatusExpired}:        true,
		{StatusConfirmed, StatusCheckedIn}: true,
		{StatusConfirmed, StatusCancelled}: true,
		{StatusConfirmed, StatusCompleted}: true,
		{StatusCheckedIn, StatusCompleted}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got, want := CanTransition(from, to), allowed[[2]Status{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		if from.Final() && len(transitions[from]) > 0 {
			t.Errorf("final status %s has transitions", from)
		}
	}
}

func TestCounterDelta(t *testing.T) {
	tests := []struct {
		from, to   Status
		held, sold int
	}{
		{StatusHeld, StatusConfirmed, -3, 3},
		{StatusHeld, StatusCancelled, -3, 0},
		{StatusHeld, StatusExpired, -3, 0},
		{StatusConfirmed, StatusCancelled, 0, -3},
		{StatusConfirmed, StatusCheckedIn, 0, 0},
		{StatusConfirmed, StatusCompleted, 0, 0},
		{StatusCheckedIn, StatusCompleted, 0, 0},
	}
	for _, tc := range tests {
		h, s := CounterDelta(tc.from, tc.to, 3)
		if h != tc.held || s != tc.sold {
			t.Errorf("CounterDelta(%s, %s, 3) = %d, %d; want %d, %d", tc.from, tc.to, h, s, tc.held, tc.sold)
		}
	}
}

// seat returns a reservation of 2 seats on a departure at start.
func seat(status Status, start time.Time) *Reservation {
	return &Reservation{
		ID: "r", Kind: KindFlight, Seat: &SeatItem{DepartureID: "d", FareClass: "economy"}, Quantity: 2,
		Travelers: []string{"A", "B"}, Price: money.Money{Amount: 10001, Currency: "EUR"}, Status: status,
		HoldExpireTime: start.Add(-time.Hour), ServiceStart: start, ServiceEnd: start.Add(2 * time.Hour),
		Policy: Policy{Rules: []Rule{{MinNotice: 7 * 24 * time.Hour, RefundBps: 10000}, {MinNotice: 24 * time.Hour, RefundBps: 5000}, {MinNotice: 0, RefundBps: 1000}}},
	}
}

func TestTransitions(t *testing.T) {
	start := time.Date(2030, 3, 12, 10, 0, 0, 0, time.UTC)
	before := start.Add(-3 * time.Hour) // before the hold expiry (start - 1h)
	tests := []struct {
		name   string
		from   Status
		now    time.Time
		op     func(r *Reservation, now time.Time) (Change, error)
		want   Status
		event  string
		none   bool
		reason string
	}{
		{"confirm held", StatusHeld, before, func(r *Reservation, n time.Time) (Change, error) { return r.Confirm(n, "c") }, StatusConfirmed, EventConfirmed, false, ""},
		{"confirm confirmed is a no-op", StatusConfirmed, before, func(r *Reservation, n time.Time) (Change, error) { return r.Confirm(n, "c") }, StatusConfirmed, "", true, ""},
		{"confirm after expiry time", StatusHeld, start.Add(-time.Hour), func(r *Reservation, n time.Time) (Change, error) { return r.Confirm(n, "c") }, StatusHeld, "", false, ReasonHoldExpired},
		{"confirm expired", StatusExpired, before, func(r *Reservation, n time.Time) (Change, error) { return r.Confirm(n, "c") }, StatusExpired, "", false, ReasonInvalidTransition},
		{"confirm cancelled", StatusCancelled, before, func(r *Reservation, n time.Time) (Change, error) { return r.Confirm(n, "c") }, StatusCancelled, "", false, ReasonInvalidTransition},
		{"expire held", StatusHeld, start.Add(-time.Hour), func(r *Reservation, n time.Time) (Change, error) { return r.Expire(n) }, StatusExpired, EventExpired, false, ""},
		{"expire too early", StatusHeld, before, func(r *Reservation, n time.Time) (Change, error) { return r.Expire(n) }, StatusHeld, "", false, ReasonInvalidTransition},
		{"expire confirmed", StatusConfirmed, start, func(r *Reservation, n time.Time) (Change, error) { return r.Expire(n) }, StatusConfirmed, "", false, ReasonInvalidTransition},
		{"cancel held", StatusHeld, before, func(r *Reservation, n time.Time) (Change, error) { return r.Cancel(n, "c", "", false) }, StatusCancelled, EventCancelled, false, ""},
		{"cancel confirmed", StatusConfirmed, before, func(r *Reservation, n time.Time) (Change, error) { return r.Cancel(n, "c", "", false) }, StatusCancelled, EventCancelled, false, ""},
		{"cancel after start", StatusConfirmed, start, func(r *Reservation, n time.Time) (Change, error) { return r.Cancel(n, "c", "", false) }, StatusConfirmed, "", false, ReasonOutsideWindow},
		{"cancel checked in", StatusCheckedIn, before, func(r *Reservation, n time.Time) (Change, error) { return r.Cancel(n, "c", "", false) }, StatusCheckedIn, "", false, ReasonInvalidTransition},
		{"cancel completed", StatusCompleted, before, func(r *Reservation, n time.Time) (Change, error) { return r.Cancel(n, "c", "", false) }, StatusCompleted, "", false, ReasonInvalidTransition},
		{"check in in window", StatusConfirmed, before, func(r *Reservation, n time.Time) (Change, error) { return r.CheckIn(n, "c") }, StatusCheckedIn, EventCheckedIn, false, ""},
		{"check in too early", StatusConfirmed, start.Add(-49 * time.Hour), func(r *Reservation, n time.Time) (Change, error) { return r.CheckIn(n, "c") }, StatusConfirmed, "", false, ReasonOutsideWindow},
		{"check in held", StatusHeld, before, func(r *Reservation, n time.Time) (Change, error) { return r.CheckIn(n, "c") }, StatusHeld, "", false, ReasonInvalidTransition},
		{"check in again", StatusCheckedIn, before, func(r *Reservation, n time.Time) (Change, error) { return r.CheckIn(n, "c") }, StatusCheckedIn, "", true, ""},
		{"check out a seat", StatusCheckedIn, before, func(r *Reservation, n time.Time) (Change, error) { return r.CheckOut(n, "c") }, StatusCheckedIn, "", false, ReasonInvalidTransition},
		{"complete at arrival", StatusConfirmed, start.Add(2 * time.Hour), func(r *Reservation, n time.Time) (Change, error) { return r.Complete(n) }, StatusCompleted, EventCompleted, false, ""},
		{"complete checked in", StatusCheckedIn, start.Add(3 * time.Hour), func(r *Reservation, n time.Time) (Change, error) { return r.Complete(n) }, StatusCompleted, EventCompleted, false, ""},
		{"complete before arrival", StatusConfirmed, start, func(r *Reservation, n time.Time) (Change, error) { return r.Complete(n) }, StatusConfirmed, "", false, ReasonOutsideWindow},
		{"complete held", StatusHeld, start.Add(2 * time.Hour), func(r *Reservation, n time.Time) (Change, error) { return r.Complete(n) }, StatusHeld, "", false, ReasonInvalidTransition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := seat(tc.from, start)
			ch, err := tc.op(r, tc.now)
			if tc.reason != "" {
				if pe, ok := errs.As(err); !ok || pe.Reason != tc.reason || !errors.Is(err, errs.FailedPrecondition) {
					t.Fatalf("err = %v, want precondition %s", err, tc.reason)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if r.Status != tc.want {
				t.Errorf("status = %s, want %s", r.Status, tc.want)
			}
			if ch.Event != tc.event || ch.None != tc.none {
				t.Errorf("change = %+v, want event %q none %v", ch, tc.event, tc.none)
			}
			if err == nil && !ch.None && ch.Previous != tc.from {
				t.Errorf("previous = %s, want %s", ch.Previous, tc.from)
			}
		})
	}
}

func TestStayCompletion(t *testing.T) {
	end := time.Date(2030, 3, 14, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		from  Status
		event string
		sub   string
	}{
		{StatusCheckedIn, EventCheckedOut, ""},
		{StatusConfirmed, EventCompleted, SubStatusNoShow},
	} {
		r := &Reservation{Stay: &StayItem{}, Status: tc.from, Quantity: 1, ServiceEnd: end}
		ch, err := r.Complete(end)
		if err != nil || ch.Event != tc.event || r.SubStatus != tc.sub || r.Status != StatusCompleted {
			t.Errorf("Complete from %s = %+v, %v; sub %q", tc.from, ch, err, r.SubStatus)
		}
	}
}

func TestRefund(t *testing.T) {
	start := time.Date(2030, 3, 12, 10, 0, 0, 0, time.UTC)
	r := seat(StatusConfirmed, start)
	tests := []struct {
		notice     time.Duration
		full       bool
		refund     int64
		ruleNotice time.Duration
		noRule     bool
	}{
		{30 * 24 * time.Hour, false, 10001, 7 * 24 * time.Hour, false},
		{7 * 24 * time.Hour, false, 10001, 7 * 24 * time.Hour, false},
		{7*24*time.Hour - time.Second, false, 5000, 24 * time.Hour, false}, // 10001 * 50% rounded down
		{time.Hour, false, 1000, 0, false},
		{time.Hour, true, 10001, 0, true},
	}
	for _, tc := range tests {
		q, err := r.QuoteCancel(start.Add(-tc.notice), tc.full)
		if err != nil {
			t.Fatal(err)
		}
		if q.Refundable.Amount != tc.refund || q.Fee.Amount != 10001-tc.refund || q.Refundable.Currency != "EUR" {
			t.Errorf("notice %v: refund %v fee %v, want %d", tc.notice, q.Refundable, q.Fee, tc.refund)
		}
		if tc.noRule != (q.Rule == nil) || (q.Rule != nil && q.Rule.MinNotice != tc.ruleNotice) {
			t.Errorf("notice %v: rule %+v", tc.notice, q.Rule)
		}
		if q.Rule != nil && !q.ValidUntil.Equal(start.Add(-tc.ruleNotice)) {
			t.Errorf("notice %v: valid until %v", tc.notice, q.ValidUntil)
		}
	}
	// No rule applies: nothing back. An empty policy is non-refundable.
	r.Policy = Policy{Rules: []Rule{{MinNotice: 48 * time.Hour, RefundBps: 10000}}}
	if q, _ := r.QuoteCancel(start.Add(-time.Hour), false); q.Refundable.Amount != 0 || q.Rule != nil {
		t.Errorf("no applicable rule: %+v", q)
	}
	r.Policy = Policy{}
	if q, _ := r.QuoteCancel(start.Add(-time.Hour), false); q.Refundable.Amount != 0 {
		t.Errorf("empty policy: %+v", q)
	}
	// A held reservation is always free.
	h := seat(StatusHeld, start)
	h.Policy = Policy{}
	if q, _ := h.QuoteCancel(start.Add(-time.Hour), false); q.Refundable.Amount != 10001 {
		t.Errorf("held: %+v", q)
	}
}

func TestDate(t *testing.T) {
	d := Date{2030, 2, 27}
	if got := d.AddDays(2); got != (Date{2030, 3, 1}) {
		t.Errorf("AddDays = %v", got)
	}
	if n := d.DaysUntil(Date{2030, 3, 29}); n != 30 {
		t.Errorf("DaysUntil = %d", n)
	}
	if (Date{2030, 2, 30}).Valid() || !(Date{2028, 2, 29}).Valid() || (Date{}).Valid() {
		t.Error("Valid is wrong")
	}
}

func TestValidID(t *testing.T) {
	for i := 0; i < 100; i++ {
		if id := NewID(); !ValidID(id) {
			t.Fatalf("NewID %q is not valid", id)
		}
	}
	for _, bad := range []string{"", "x", "0123456789abcdef0123456789abcdef0123", "g1234567-1234-1234-1234-123456789012"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
