package billing

import (
	"fmt"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// SagaState is the overall state of a pay saga. Its values equal
// waybill.billing.v1.PaymentSagaState.
type SagaState int32

// The saga states. Transitions: RUNNING → SUCCEEDED; RUNNING → COMPENSATING → FAILED;
// RUNNING → FAILED when nothing needs undoing.
const (
	SagaUnspecified  SagaState = 0
	SagaRunning      SagaState = 1
	SagaCompensating SagaState = 2
	SagaSucceeded    SagaState = 3
	SagaFailed       SagaState = 4
)

var sagaStateNames = map[SagaState]string{
	SagaRunning: "running", SagaCompensating: "compensating", SagaSucceeded: "succeeded", SagaFailed: "failed",
}

// String returns the state's storage name.
func (s SagaState) String() string {
	if n, ok := sagaStateNames[s]; ok {
		return n
	}
	return "unspecified"
}

// ParseSagaState returns the state with storage name n.
func ParseSagaState(n string) SagaState {
	for s, name := range sagaStateNames {
		if name == n {
			return s
		}
	}
	return SagaUnspecified
}

// Active reports whether the saga still has work to do.
func (s SagaState) Active() bool { return s == SagaRunning || s == SagaCompensating }

// SagaStep is a step of the pay saga. Its values equal waybill.billing.v1.PaymentSagaStep.
type SagaStep int32

// The saga steps, in execution order.
const (
	StepUnspecified  SagaStep = 0
	StepAuthorize    SagaStep = 1
	StepConfirmItems SagaStep = 2
	StepCapture      SagaStep = 3
)

var sagaStepNames = map[SagaStep]string{StepAuthorize: "authorize", StepConfirmItems: "confirm_items", StepCapture: "capture"}

// String returns the step's storage name.
func (s SagaStep) String() string {
	if n, ok := sagaStepNames[s]; ok {
		return n
	}
	return "unspecified"
}

// ParseSagaStep returns the step with storage name n.
func ParseSagaStep(n string) SagaStep {
	for s, name := range sagaStepNames {
		if name == n {
			return s
		}
	}
	return StepUnspecified
}

// The saga's failure codes, besides the processor's decline codes.
const (
	FailureItemNotConfirmable     = "item_not_confirmable"
	FailureCaptureFailed          = "capture_failed"
	FailurePaymentMethodNotUsable = "payment_method_not_usable"
	FailurePaymentRejected        = "payment_rejected"
)

// Saga is one run of the pay saga for a bill: its state, the step it is on, and the
// progress that lets any billing process resume it after a crash.
type Saga struct {
	// ID is the saga's UUID; every outbound request id derives from it.
	ID string
	// BillID is the bill being paid.
	BillID string
	// Attempt counts the bill's PayBill attempts, from 1.
	Attempt int
	// State and Step say where the saga is.
	State SagaState
	Step  SagaStep
	// PaymentMethodID is the method charged.
	PaymentMethodID string
	// Amount is the bill's total, authorized and captured.
	Amount money.Money
	// PaymentID is the payment service's payment, once authorization answered.
	PaymentID string
	// FailureCode, FailureMessage and FailedItemIDs say why the saga failed.
	FailureCode, FailureMessage string
	FailedItemIDs               []string
	// StartTime, UpdateTime and EndTime are when the saga started, last changed state or
	// step, and ended.
	StartTime, UpdateTime, EndTime time.Time
	// StepTime is when the current step started, for the step's deadline.
	StepTime time.Time
	// Progress is the saga's durable progress: registered compensations and outcomes.
	Progress SagaProgress
}

// SagaProgress is what the saga did so far, stored with it after every change. Each
// compensation is recorded before the call it undoes.
type SagaProgress struct {
	// VoidRegistered is set when the saga is created: an authorization may exist from then
	// on and must be released if the saga fails.
	VoidRegistered bool `json:"void_registered,omitempty"`
	// Batches are the ConfirmReservations calls, one per provider and chunk, recorded
	// (with their cancellation as compensation) before they are sent.
	Batches []ConfirmBatch `json:"batches,omitempty"`
	// RefundRegistered is set before the capture is sent: from then on money may have
	// been captured and must be refunded if the saga fails.
	RefundRegistered bool `json:"refund_registered,omitempty"`
	// PaymentSettled is set once compensation left the payment with nothing held or
	// captured (voided, refunded, or never authorized).
	PaymentSettled bool `json:"payment_settled,omitempty"`
	// PaymentTries counts the compensating voids and refunds that answered; it numbers
	// their request ids, so that a rejected one is retried under a new id and a crashed
	// one under the same.
	PaymentTries int `json:"payment_tries,omitempty"`
	// Retries counts consecutive transient failures, for the backoff.
	Retries int `json:"retries,omitempty"`
	// LastError is the most recent transient failure, for operators.
	LastError string `json:"last_error,omitempty"`
}

// ConfirmBatch is one ConfirmReservations call of the saga and its compensation.
type ConfirmBatch struct {
	// Provider is the owner of the reservations.
	Provider string `json:"provider"`
	// Chunk numbers the batches of one provider (more than MaxBatch items).
	Chunk int `json:"chunk"`
	// ItemIDs and ReservationIDs are the bill items and their reservations, in the same
	// order.
	ItemIDs        []string `json:"item_ids"`
	ReservationIDs []string `json:"reservation_ids"`
	// Done is set once the provider answered; Outcomes then holds one outcome per
	// reservation.
	Done     bool            `json:"done,omitempty"`
	Outcomes []ActionOutcome `json:"outcomes,omitempty"`
	// Cancelled is set once the compensating CancelReservations answered.
	Cancelled bool `json:"cancelled,omitempty"`
}

// ActionOutcome is a provider's answer for one reservation of a confirm or cancel.
type ActionOutcome struct {
	// OK means done now or already in the wanted state.
	OK bool `json:"ok,omitempty"`
	// Code is why not, for example "NOT_FOUND", "DENIED" or the provider's reason.
	Code string `json:"code,omitempty"`
}

// maybeConfirmed returns the reservation ids whose confirmation may have taken effect:
// those confirmed, and all of them while the provider's answer is unknown.
func (b ConfirmBatch) maybeConfirmed() []string {
	if !b.Done {
		return b.ReservationIDs
	}
	var out []string
	for i, o := range b.Outcomes {
		if o.OK && i < len(b.ReservationIDs) {
			out = append(out, b.ReservationIDs[i])
		}
	}
	return out
}

// RequestID derives the idempotency key of one outbound call of the saga from its id and
// the step, so that a resumed or retried step never takes effect twice.
func (s *Saga) RequestID(step string, parts ...any) string {
	id := "saga-" + s.ID + "-" + step
	for _, p := range parts {
		id += "-" + fmt.Sprint(p)
	}
	return id
}

// Reference is the payment's reference: the bill id, searchable in the payment service.
func (s *Saga) Reference() string { return "bill:" + s.BillID }

// MaxActionBatch is the most reservations one ConfirmReservations or CancelReservations
// call may carry.
const MaxActionBatch = 500

// planBatches groups the bill's items to confirm by provider (sorted, for a stable plan),
// in chunks of at most MaxActionBatch: every item still PENDING, and every item billed a
// non-zero amount that is no longer billable (its owner then refuses it and the saga
// fails rather than charge for it). Items already committed (CONFIRMED and later) before
// the saga are neither confirmed nor, on failure, cancelled.
func planBatches(b *Bill) []ConfirmBatch {
	byProvider := map[string][]Item{}
	var names []string
	for _, it := range b.Items {
		if it.Summary == nil {
			continue
		}
		switch st := it.Summary.MainStatus; {
		case st == MainStatusConfirmed || st == MainStatusInProgress || st == MainStatusCompleted:
			continue
		case !st.Billable() && it.Billed.Amount == 0:
			continue
		}
		if _, ok := byProvider[it.Provider]; !ok {
			names = append(names, it.Provider)
		}
		byProvider[it.Provider] = append(byProvider[it.Provider], it)
	}
	slices.Sort(names)
	var out []ConfirmBatch
	for _, name := range names {
		items := byProvider[name]
		for chunk := 0; chunk*MaxActionBatch < len(items); chunk++ {
			part := items[chunk*MaxActionBatch : min((chunk+1)*MaxActionBatch, len(items))]
			cb := ConfirmBatch{Provider: name, Chunk: chunk}
			for _, it := range part {
				cb.ItemIDs = append(cb.ItemIDs, it.ID)
				cb.ReservationIDs = append(cb.ReservationIDs, it.ReservationID)
			}
			out = append(out, cb)
		}
	}
	return out
}

// StartPayment starts a pay saga on a FINALIZED or FAILED bill: a FAILED bill returns to
// FINALIZED. prev is the bill's latest saga, if any. A bill whose total is zero moves no
// money: its saga starts at CONFIRM_ITEMS and succeeds once the items are confirmed, and
// with nothing to confirm the bill becomes PAID at once.
func (b *Bill) StartPayment(prev *Saga, sagaID, methodID string, expectedVersion int64, now time.Time) (Saga, Change, error) {
	if err := b.checkVersion(expectedVersion); err != nil {
		return Saga{}, Change{}, err
	}
	if prev != nil && prev.State.Active() {
		return Saga{}, Change{}, errs.Precondition(ReasonPaymentInProgress, "bill %s already has a payment in progress", b.ID)
	}
	if b.Status != StatusFinalized && b.Status != StatusFailed {
		return Saga{}, Change{}, errs.Precondition(ReasonBillNotPayable, "bill %s is %s; only finalized or failed bills can be paid", b.ID, b.Status)
	}
	total := money.Money{Currency: b.Currency}
	for _, m := range b.Totals() {
		if m.Currency != b.Currency {
			return Saga{}, Change{}, errs.Precondition(ReasonCurrencyMismatch, "bill %s has an amount in %s", b.ID, m.Currency)
		}
		total.Amount += m.Amount
	}
	s := Saga{
		ID: sagaID, BillID: b.ID, Attempt: 1, State: SagaRunning, Step: StepAuthorize, PaymentMethodID: methodID,
		Amount: total, StartTime: now, UpdateTime: now, StepTime: now,
		Progress: SagaProgress{VoidRegistered: true, Batches: planBatches(b)},
	}
	if prev != nil {
		s.Attempt = prev.Attempt + 1
	}
	ch := Change{Touched: true}
	if b.Status == StatusFailed {
		b.Status = StatusFinalized
		ch.Event = EventFinalized
	}
	switch {
	case total.Amount == 0 && len(s.Progress.Batches) == 0:
		s.State, s.Step, s.EndTime = SagaSucceeded, StepUnspecified, now
		s.Progress = SagaProgress{}
		b.Status, b.PaidTime = StatusPaid, now
		ch.Event = EventPaid
	case total.Amount == 0:
		// No payment: nothing to authorize, capture or give back.
		s.Step = StepConfirmItems
		s.Progress.VoidRegistered, s.Progress.PaymentSettled = false, true
	}
	b.PaymentID = ""
	b.Saga = &s
	return s, ch, nil
}

// Settle moves a PAID bill to SETTLED; any other status changes nothing.
func (b *Bill) Settle(now time.Time) Change {
	if b.Status != StatusPaid {
		return Change{}
	}
	b.Status, b.SettleTime = StatusSettled, now
	return Change{Event: EventSettled}
}
