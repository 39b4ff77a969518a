package billing

import (
	"errors"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

func pendingItem(id, provider string, st MainStatus, billed int64) Item {
	return Item{ID: id, Provider: provider, ReservationID: "r-" + id,
		Summary: &Summary{MainStatus: st, Amount: money.Money{Amount: billed, Currency: "EUR"}}, Billed: money.Money{Amount: billed, Currency: "EUR"}}
}

func finalizedBill(items ...Item) Bill {
	return Bill{ID: "b", CustomerID: "c", Currency: "EUR", Status: StatusFinalized, FinalizeTime: time.Unix(1, 0), Version: 3, Items: items}
}

func TestStartPayment(t *testing.T) {
	now := time.Unix(100, 0).UTC()
	for _, tc := range []struct {
		name       string
		bill       Bill
		prev       *Saga
		expected   int64
		wantErr    error
		wantReason string
		wantStatus Status
		wantEvent  EventType
		wantSaga   SagaState
		wantBatch  int
	}{
		{name: "finalized", bill: finalizedBill(pendingItem("1", "booking", MainStatusPending, 100), pendingItem("2", "trip", MainStatusPending, 50)),
			wantStatus: StatusFinalized, wantSaga: SagaRunning, wantBatch: 2},
		{name: "confirmed items are not confirmed again", bill: finalizedBill(pendingItem("1", "booking", MainStatusConfirmed, 100), pendingItem("2", "booking", MainStatusPending, 50)),
			wantStatus: StatusFinalized, wantSaga: SagaRunning, wantBatch: 1},
		{name: "a billed item that expired is sent, so that its owner refuses it", bill: finalizedBill(pendingItem("1", "booking", MainStatusExpired, 100)),
			wantStatus: StatusFinalized, wantSaga: SagaRunning, wantBatch: 1},
		{name: "failed bill retried", bill: func() Bill {
			b := finalizedBill(pendingItem("1", "booking", MainStatusPending, 100))
			b.Status = StatusFailed
			return b
		}(),
			prev: &Saga{Attempt: 1, State: SagaFailed}, wantStatus: StatusFinalized, wantEvent: EventFinalized, wantSaga: SagaRunning, wantBatch: 1},
		{name: "zero total with items to confirm confirms them without a payment", bill: finalizedBill(pendingItem("1", "booking", MainStatusPending, 0)),
			wantStatus: StatusFinalized, wantSaga: SagaRunning, wantBatch: 1},
		{name: "zero total with nothing to confirm is paid at once", bill: finalizedBill(pendingItem("1", "booking", MainStatusConfirmed, 0)),
			wantStatus: StatusPaid, wantEvent: EventPaid, wantSaga: SagaSucceeded},
		{name: "open", bill: func() Bill { b := finalizedBill(); b.Status = StatusOpen; return b }(), wantErr: errs.FailedPrecondition, wantReason: ReasonBillNotPayable},
		{name: "paid", bill: func() Bill { b := finalizedBill(); b.Status = StatusPaid; return b }(), wantErr: errs.FailedPrecondition, wantReason: ReasonBillNotPayable},
		{name: "running", bill: finalizedBill(), prev: &Saga{State: SagaCompensating}, wantErr: errs.FailedPrecondition, wantReason: ReasonPaymentInProgress},
		{name: "stale version", bill: finalizedBill(), expected: 2, wantErr: errs.Aborted, wantReason: ReasonVersionMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bill
			s, ch, err := b.StartPayment(tc.prev, "s", "pm", tc.expected, now)
			if tc.wantErr != nil {
				e, ok := errs.As(err)
				if !errors.Is(err, tc.wantErr) || (tc.wantReason != "" && (!ok || e.Reason != tc.wantReason)) {
					t.Fatalf("err = %v, want %v %s", err, tc.wantErr, tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Status != tc.wantStatus || ch.Event != tc.wantEvent || s.State != tc.wantSaga || len(s.Progress.Batches) != tc.wantBatch {
				t.Fatalf("status %v event %q saga %v batches %d", b.Status, ch.Event, s.State, len(s.Progress.Batches))
			}
			if ch.Event == "" && !ch.Touched {
				t.Fatal("starting a saga changed nothing")
			}
			want := 1
			if tc.prev != nil {
				want = tc.prev.Attempt + 1
			}
			if s.Attempt != want {
				t.Fatalf("attempt = %d, want %d", s.Attempt, want)
			}
			if b.Saga == nil || b.Saga.ID != "s" {
				t.Fatal("the bill does not point at its saga")
			}
		})
	}
}

func TestApplySaga(t *testing.T) {
	now := time.Unix(100, 0).UTC()
	for _, tc := range []struct {
		state      SagaState
		wantStatus Status
		wantEvent  EventType
	}{
		{SagaRunning, StatusFinalized, ""},
		{SagaCompensating, StatusFinalized, ""},
		{SagaSucceeded, StatusPaid, EventPaid},
		{SagaFailed, StatusFailed, EventFailed},
	} {
		b := finalizedBill()
		b.Saga = &Saga{ID: "s", State: SagaRunning, Step: StepAuthorize}
		ch := b.ApplySaga(Saga{ID: "s", State: tc.state, Step: StepCapture, PaymentID: "p"}, now)
		if b.Status != tc.wantStatus || ch.Event != tc.wantEvent || b.PaymentID != "p" {
			t.Errorf("%v: status %v event %q payment %q", tc.state, b.Status, ch.Event, b.PaymentID)
		}
		if ch.Event == "" && !ch.Touched {
			t.Errorf("%v: a visible saga change did not touch the bill", tc.state)
		}
	}
	b := finalizedBill()
	b.Saga = &Saga{ID: "s", State: SagaRunning, Step: StepCapture}
	if ch := b.ApplySaga(Saga{ID: "s", State: SagaRunning, Step: StepCapture}, now); ch.Event != "" || ch.Touched {
		t.Errorf("an invisible change touched the bill: %+v", ch)
	}
	b.Saga.State = SagaRunning
	if _, err := b.Cancel("x", now); !errors.Is(err, errs.FailedPrecondition) {
		t.Errorf("Cancel during a saga = %v, want failed precondition", err)
	}
}

func TestMaybeConfirmed(t *testing.T) {
	b := ConfirmBatch{ReservationIDs: []string{"a", "b", "c"}}
	if got := b.maybeConfirmed(); len(got) != 3 {
		t.Fatalf("unknown outcome: %v, want all", got)
	}
	b.Done, b.Outcomes = true, []ActionOutcome{{OK: true}, {Code: "HOLD_EXPIRED"}, {OK: true}}
	if got := b.maybeConfirmed(); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("known outcome: %v, want a and c", got)
	}
}

func TestPaymentMethodUsable(t *testing.T) {
	now := time.Date(2030, 6, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		m    PaymentMethod
		want bool
	}{
		{PaymentMethod{Active: true, ExpiryMonth: 6, ExpiryYear: 2030}, true},
		{PaymentMethod{Active: true, ExpiryMonth: 5, ExpiryYear: 2030}, false},
		{PaymentMethod{Active: true, ExpiryMonth: 1, ExpiryYear: 2031}, true},
		{PaymentMethod{Active: false, ExpiryMonth: 1, ExpiryYear: 2031}, false},
	} {
		if got := tc.m.Usable(now); got != tc.want {
			t.Errorf("%+v: usable = %v, want %v", tc.m, got, tc.want)
		}
	}
}
