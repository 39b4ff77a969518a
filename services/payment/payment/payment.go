package payment

import (
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// Status is the main status of a payment; see the transitions on Apply.
type Status int

// The payment statuses.
const (
	StatusUnspecified Status = iota
	StatusAuthorized
	StatusPartiallyCaptured
	StatusCaptured
	StatusPartiallyRefunded
	StatusRefunded
	StatusVoided
	StatusFailed
	StatusPendingReconciliation
)

var statusNames = []string{"unspecified", "authorized", "partially_captured", "captured",
	"partially_refunded", "refunded", "voided", "failed", "pending_reconciliation"}

// String returns the status's stored name.
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return "unspecified"
	}
	return statusNames[s]
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) Status {
	for i, n := range statusNames {
		if n == s {
			return Status(i)
		}
	}
	return StatusUnspecified
}

// OperationType is the kind of a payment operation.
type OperationType int

// The operation types.
const (
	OpUnspecified OperationType = iota
	OpAuthorize
	OpCapture
	OpVoid
	OpRefund
)

var opTypeNames = []string{"unspecified", "authorize", "capture", "void", "refund"}

// String returns the type's stored name.
func (t OperationType) String() string {
	if t < 0 || int(t) >= len(opTypeNames) {
		return "unspecified"
	}
	return opTypeNames[t]
}

// ParseOperationType is the inverse of String.
func ParseOperationType(s string) OperationType {
	for i, n := range opTypeNames {
		if n == s {
			return OperationType(i)
		}
	}
	return OpUnspecified
}

// OperationStatus is the outcome of an operation.
type OperationStatus int

// The operation statuses. InProgress is internal: the processor call is running (the API shows
// it as PENDING); Pending means the processor did not answer and the payment awaits
// reconciliation.
const (
	OpStatusUnspecified OperationStatus = iota
	OpInProgress
	OpPending
	OpSucceeded
	OpFailed
)

var opStatusNames = []string{"unspecified", "in_progress", "pending", "succeeded", "failed"}

// String returns the status's stored name.
func (s OperationStatus) String() string {
	if s < 0 || int(s) >= len(opStatusNames) {
		return "unspecified"
	}
	return opStatusNames[s]
}

// ParseOperationStatus is the inverse of String.
func ParseOperationStatus(s string) OperationStatus {
	for i, n := range opStatusNames {
		if n == s {
			return OperationStatus(i)
		}
	}
	return OpStatusUnspecified
}

// Payment is one authorization and everything done with it afterwards. All amounts are in
// Currency's minor units.
type Payment struct {
	// ID is the payment's UUID.
	ID string
	// CustomerID owns the payment method.
	CustomerID string
	// MethodID is the authorized payment method.
	MethodID string
	// Reference is the caller's reference (a bill id), at most 128 characters.
	Reference string
	// Currency is the authorization's currency.
	Currency string
	// Authorized, Captured and Refunded are the totals; Refunded ≤ Captured ≤ Authorized.
	Authorized, Captured, Refunded int64
	// Status is the main status.
	Status Status
	// ResumeStatus is the status a PENDING_RECONCILIATION payment returns to when its pending
	// operation turns out to have failed (unspecified for a pending authorization).
	ResumeStatus Status
	// SubStatus is free-form, at most 64 characters.
	SubStatus string
	// DeclineCode and FailureMessage explain a FAILED authorization.
	DeclineCode, FailureMessage string
	// Processor names the adapter; ProcessorReference is its reference for the authorization.
	Processor, ProcessorReference string
	// AuthorizationExpireTime is when the uncaptured rest is voided; zero unless AUTHORIZED or
	// PARTIALLY_CAPTURED.
	AuthorizationExpireTime time.Time
	// Timeline holds the operations, oldest first, when the read asked for it.
	Timeline []Operation
	// CreateTime, UpdateTime and SettleTime (zero until every capture is settled).
	CreateTime, UpdateTime, SettleTime time.Time
	// Version increases by one on every change.
	Version int64
	// BusyOperationID is the operation the processor is working on (in progress) or whose
	// outcome is unknown (pending); empty otherwise. No other operation may start meanwhile.
	BusyOperationID string
	// BusyType and BusyAmount are that operation's type and amount, reserved against the
	// payment's limits in the database.
	BusyType   OperationType
	BusyAmount int64
	// BusySince is when the busy operation started; after the lease another caller may
	// reconcile it.
	BusySince time.Time
}

// Operation is one call the service made to the processor for a payment.
type Operation struct {
	// ID is the operation's UUID, also the reference the processor records (Request.Reference).
	ID string
	// PaymentID is the payment.
	PaymentID string
	// Type and Status are what was done and how it ended.
	Type   OperationType
	Status OperationStatus
	// Amount is the amount authorized, captured, released or refunded.
	Amount money.Money
	// RequestID is the caller's idempotency key; empty for operations the service started.
	RequestID string
	// ProcessorReference is the processor's reference for the operation.
	ProcessorReference string
	// DeclineCode and FailureMessage explain a failure.
	DeclineCode, FailureMessage string
	// Reason is the caller's reason for a void or refund.
	Reason string
	// CreateTime is when the operation was sent; CompleteTime when its outcome became known.
	CreateTime, CompleteTime time.Time
	// SettlementID is the settlement that included a successful capture or refund.
	SettlementID string
}

// PaymentFilter selects payments for ListPayments.
type PaymentFilter struct {
	// CustomerID, when set, keeps only that customer's payments.
	CustomerID string
	// Reference, when set, keeps only payments with exactly this reference.
	Reference string
	// Statuses, when not empty, keeps only payments in one of them.
	Statuses []Status
}

// Money returns amount in the payment's currency.
func (p Payment) Money(amount int64) money.Money { return money.New(amount, p.Currency) }

// baseStatus is the status operations are judged from: a pending payment's resume status.
func (p Payment) baseStatus() Status {
	if p.Status == StatusPendingReconciliation {
		return p.ResumeStatus
	}
	return p.Status
}

// Capturable returns the authorized amount that may still be captured.
func (p Payment) Capturable() int64 {
	if p.Status == StatusAuthorized || p.Status == StatusPartiallyCaptured {
		return p.Authorized - p.Captured
	}
	return 0
}

// Refundable returns the captured amount not yet refunded.
func (p Payment) Refundable() int64 {
	switch p.Status {
	case StatusPartiallyCaptured, StatusCaptured, StatusPartiallyRefunded:
		return p.Captured - p.Refunded
	}
	return 0
}

// Plan checks that an operation of type t for amount (0 meaning "all of it") may start on p at
// now, and returns its amount. Its errors are of kind errs.FailedPrecondition.
func Plan(p Payment, t OperationType, amount int64, now time.Time) (int64, error) {
	switch t {
	case OpCapture:
		if p.Capturable() == 0 || p.authorizationExpired(now) {
			return 0, errs.Precondition(ReasonNotCapturable, "the payment is %s: only AUTHORIZED or PARTIALLY_CAPTURED payments with an unexpired authorization can be captured", p.Status)
		}
		if amount == 0 {
			return p.Capturable(), nil
		}
		if amount > p.Capturable() {
			return 0, errs.Precondition(ReasonExceedsCapturable, "the amount exceeds the uncaptured authorized amount, %s", p.Money(p.Capturable()))
		}
		return amount, nil
	case OpVoid:
		if p.Capturable() == 0 {
			return 0, errs.Precondition(ReasonNotVoidable, "the payment is %s: only AUTHORIZED or PARTIALLY_CAPTURED payments can be voided", p.Status)
		}
		return p.Capturable(), nil
	case OpRefund:
		if p.Refundable() == 0 {
			return 0, errs.Precondition(ReasonNotRefundable, "the payment is %s with nothing refundable", p.Status)
		}
		if amount == 0 {
			return p.Refundable(), nil
		}
		if amount > p.Refundable() {
			return 0, errs.Precondition(ReasonExceedsRefundable, "the amount exceeds the captured amount not yet refunded, %s", p.Money(p.Refundable()))
		}
		return amount, nil
	}
	return 0, fmt.Errorf("plan operation: %s cannot be planned", t)
}

func (p Payment) authorizationExpired(now time.Time) bool {
	return !p.AuthorizationExpireTime.IsZero() && !now.Before(p.AuthorizationExpireTime)
}

// NotProcessed is the Result Apply gets for an operation the processor has no record of: it
// never happened, so it failed.
var NotProcessed = Result{Outcome: OutcomeDeclined, DeclineCode: "not_processed",
	Message: "The processor has no record of the operation; nothing was charged or returned."}

// Apply records the processor's result res of the busy operation op of payment p at now and
// returns the changed payment and operation and the events the change emits. The transitions:
//
//	authorize: succeeded → AUTHORIZED; declined → FAILED
//	capture:   succeeded → CAPTURED when everything is captured, else PARTIALLY_CAPTURED
//	void:      succeeded → VOIDED when nothing was captured, else CAPTURED
//	refund:    succeeded → REFUNDED when everything is refunded, else PARTIALLY_REFUNDED
//	declined (capture, void, refund): the payment keeps its status
//	unknown (any): PENDING_RECONCILIATION, the operation PENDING, no event
func Apply(p Payment, op Operation, res Result, now time.Time) (Payment, Operation, []Event) {
	base := p.baseStatus()
	p.Version++
	p.UpdateTime = now
	if res.Outcome == OutcomeUnknown {
		op.Status = OpPending
		op.CompleteTime = time.Time{}
		if p.Status != StatusPendingReconciliation {
			p.ResumeStatus = base
		}
		p.Status = StatusPendingReconciliation
		p.BusyOperationID, p.BusyType, p.BusyAmount = op.ID, op.Type, op.Amount.Amount
		if p.BusySince.IsZero() {
			p.BusySince = now
		}
		return p, op, nil
	}
	op.CompleteTime = now
	op.ProcessorReference = res.Reference
	p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = "", OpUnspecified, 0, time.Time{}
	p.ResumeStatus = StatusUnspecified
	if res.Outcome == OutcomeDeclined {
		op.Status = OpFailed
		op.DeclineCode, op.FailureMessage = res.DeclineCode, res.Message
		if op.Type == OpAuthorize {
			p.Status = StatusFailed
			p.DeclineCode, p.FailureMessage = res.DeclineCode, res.Message
			p.AuthorizationExpireTime = time.Time{}
		} else {
			p.Status = base
		}
		p = clearExpiry(p)
		return p, op, []Event{paymentEvent(EventFailed, p, op)}
	}
	op.Status = OpSucceeded
	op.DeclineCode, op.FailureMessage = "", ""
	var typ string
	switch op.Type {
	case OpAuthorize:
		p.Status = StatusAuthorized
		p.ProcessorReference = res.Reference
		typ = EventAuthorized
	case OpCapture:
		p.Captured += op.Amount.Amount
		p.Status = StatusPartiallyCaptured
		if p.Captured == p.Authorized {
			p.Status = StatusCaptured
		}
		p.SettleTime = time.Time{}
		typ = EventCaptured
	case OpVoid:
		p.Status = StatusVoided
		if p.Captured > 0 {
			p.Status = StatusCaptured
		}
		typ = EventVoided
	case OpRefund:
		p.Refunded += op.Amount.Amount
		p.Status = StatusPartiallyRefunded
		if p.Refunded == p.Captured {
			p.Status = StatusRefunded
		}
		typ = EventRefunded
	}
	p = clearExpiry(p)
	return p, op, []Event{paymentEvent(typ, p, op)}
}

// clearExpiry unsets the authorization expiry of a payment that can no longer be captured.
func clearExpiry(p Payment) Payment {
	if p.Status != StatusAuthorized && p.Status != StatusPartiallyCaptured {
		p.AuthorizationExpireTime = time.Time{}
	}
	return p
}

// reserve marks op as p's busy operation, started at now.
func reserve(p Payment, op Operation, now time.Time) Payment {
	p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = op.ID, op.Type, op.Amount.Amount, now
	return p
}
