package booking

import (
	"bytes"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// TestBatchActions: the per-reservation decisions of ConfirmReservations and
// CancelReservations.
func TestBatchActions(t *testing.T) {
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	policy := Policy{Rules: []Rule{{MinNotice: 24 * time.Hour, RefundBps: 5000}}}
	res := func(st Status, holdLeft time.Duration) *Reservation {
		return &Reservation{
			ID: "r", Status: st, Quantity: 2, Price: money.Money{Amount: 10000, Currency: "EUR"}, Policy: policy,
			HoldExpireTime: now.Add(holdLeft), ServiceStart: now.Add(72 * time.Hour), ServiceEnd: now.Add(80 * time.Hour),
			History: []StatusChange{{Status: st}},
		}
	}
	confirm := func(r *Reservation) (Change, error) { return ConfirmForBatch(r, now, "billing", "bill:1") }
	cancel := func(full bool) func(r *Reservation) (Change, error) {
		return func(r *Reservation) (Change, error) { return CancelForBatch(r, now, "billing", "payment failed", full) }
	}
	tests := []struct {
		name     string
		r        *Reservation
		fn       func(r *Reservation) (Change, error)
		reason   string // the precondition reason, or "" for success
		none     bool
		status   Status
		held     int
		sold     int
		refund   int64 // the cancellation's refundable amount, -1 for none
		histNote string
	}{
		{"confirm held", res(StatusHeld, time.Minute), confirm, "", false, StatusConfirmed, -2, 2, -1, "bill:1"},
		{"confirm confirmed", res(StatusConfirmed, 0), confirm, "", true, StatusConfirmed, 0, 0, -1, ""},
		{"confirm lapsed hold", res(StatusHeld, 0), confirm, ReasonHoldExpired, false, StatusHeld, 0, 0, -1, ""},
		{"confirm expired", res(StatusExpired, -time.Hour), confirm, ReasonHoldExpired, false, StatusExpired, 0, 0, -1, ""},
		{"confirm cancelled", res(StatusCancelled, 0), confirm, ReasonInvalidTransition, false, StatusCancelled, 0, 0, -1, ""},
		{"confirm checked in", res(StatusCheckedIn, 0), confirm, ReasonInvalidTransition, false, StatusCheckedIn, 0, 0, -1, ""},
		{"cancel held", res(StatusHeld, time.Minute), cancel(false), "", false, StatusCancelled, -2, 0, 10000, "payment failed"},
		{"cancel confirmed under policy", res(StatusConfirmed, 0), cancel(false), "", false, StatusCancelled, 0, -2, 5000, "payment failed"},
		{"cancel confirmed waiving fees", res(StatusConfirmed, 0), cancel(true), "", false, StatusCancelled, 0, -2, 10000, "payment failed"},
		{"cancel cancelled", res(StatusCancelled, 0), cancel(true), "", true, StatusCancelled, 0, 0, -1, ""},
		{"cancel expired", res(StatusExpired, -time.Hour), cancel(false), "", true, StatusExpired, 0, 0, -1, ""},
		{"cancel checked in", res(StatusCheckedIn, 0), cancel(true), ReasonInvalidTransition, false, StatusCheckedIn, 0, 0, -1, ""},
		{"cancel completed", res(StatusCompleted, 0), cancel(true), ReasonInvalidTransition, false, StatusCompleted, 0, 0, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := tc.fn(tc.r)
			if tc.reason != "" {
				if pre, ok := errs.As(err); !ok || pre.Kind != errs.FailedPrecondition || pre.Reason != tc.reason {
					t.Fatalf("err = %v, want reason %s", err, tc.reason)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if ch.None != tc.none || ch.HeldDelta != tc.held || ch.SoldDelta != tc.sold || tc.r.Status != tc.status {
				t.Fatalf("change %+v status %s, want none=%v held %d sold %d status %s", ch, tc.r.Status, tc.none, tc.held, tc.sold, tc.status)
			}
			switch c := tc.r.Cancellation; {
			case tc.refund < 0 && c != nil:
				t.Fatalf("unexpected cancellation %+v", c)
			case tc.refund >= 0 && (c == nil || c.Refundable.Amount != tc.refund):
				t.Fatalf("cancellation %+v, want refundable %d", c, tc.refund)
			}
			if got := tc.r.History[len(tc.r.History)-1].Reason; got != tc.histNote {
				t.Fatalf("history reason %q, want %q", got, tc.histNote)
			}
		})
	}
}

// TestBatchKey: a request id reused for another batch is told apart.
func TestBatchKey(t *testing.T) {
	c := caller.Caller{Subject: "billing", Role: caller.Service}
	a := batchKey(c, opConfirmBatch, "r", []string{"a", "b"}, "ref")
	if len(a.Hash) == 0 || !bytes.Equal(a.Hash, batchKey(c, opConfirmBatch, "r", []string{"a", "b"}, "ref").Hash) {
		t.Fatalf("hash %x is not stable", a.Hash)
	}
	for _, other := range []struct {
		method string
		ids    []string
		ref    string
	}{
		{opConfirmBatch, []string{"b", "a"}, "ref"},
		{opConfirmBatch, []string{"a", "b"}, "ref2"},
		{opConfirmBatch, []string{"ab"}, "ref"},
		{opConfirmBatch, []string{"a"}, "b"}, // ids and parameters do not run into each other
		{opCancelBatch, []string{"a", "b"}, "ref"},
	} {
		k := batchKey(c, other.method, "r", other.ids, other.ref)
		if k.Method == a.Method && bytes.Equal(k.Hash, a.Hash) {
			t.Fatalf("batch %+v shares the key of the first", other)
		}
	}
}
