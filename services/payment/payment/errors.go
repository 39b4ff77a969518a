package payment

import (
	"errors"
	"fmt"
)

// ErrNotFound means the resource does not exist.
var ErrNotFound = errors.New("not found")

// ErrAlreadyExists means a conflicting resource exists (a settlement of the same date).
var ErrAlreadyExists = errors.New("already exists")

// ErrUnavailable means the processor could not be reached and nothing was sent to it: the
// call may be retried with the same idempotency key.
var ErrUnavailable = errors.New("processor unavailable")

// ErrConflict means the call lost a race with a concurrent one and may be retried.
var ErrConflict = errors.New("conflict with a concurrent change")

// errKeyLost means the idempotency key was taken over by another attempt while this one ran.
var errKeyLost = errors.New("idempotency key taken over by another attempt")

// Reasons name why a call failed, machine-readably; the transport puts them in ErrorInfo.
const (
	ReasonRequestIDReused       = "REQUEST_ID_REUSED"
	ReasonRequestInProgress     = "REQUEST_IN_PROGRESS"
	ReasonPaymentBusy           = "PAYMENT_BUSY"
	ReasonPaymentPending        = "PAYMENT_PENDING_RECONCILIATION"
	ReasonMethodDisabled        = "PAYMENT_METHOD_DISABLED"
	ReasonMethodExpired         = "PAYMENT_METHOD_EXPIRED"
	ReasonNotCapturable         = "PAYMENT_NOT_CAPTURABLE"
	ReasonExceedsCapturable     = "AMOUNT_EXCEEDS_CAPTURABLE"
	ReasonNotVoidable           = "PAYMENT_NOT_VOIDABLE"
	ReasonNotRefundable         = "PAYMENT_NOT_REFUNDABLE"
	ReasonExceedsRefundable     = "AMOUNT_EXCEEDS_REFUNDABLE"
	ReasonCardDeclined          = "CARD_DECLINED"
	ReasonVersionMismatch       = "VERSION_MISMATCH"
	ReasonSettlementExists      = "SETTLEMENT_EXISTS"
	ReasonInvalidArgument       = "INVALID_ARGUMENT"
	ReasonProcessorUnavailable  = "PROCESSOR_UNAVAILABLE"
	ReasonSettlementRunning     = "SETTLEMENT_RUNNING"
	ReasonUnknownProcessorToken = "UNKNOWN_PROCESSOR_TOKEN"
)

// FieldError is a client mistake in one request field: the transport answers INVALID_ARGUMENT
// naming Field. Description never echoes the value (it may be card data).
type FieldError struct {
	// Field is the request field's path, for example "amount.currency_code".
	Field string
	// Description says what is wrong, in a full sentence.
	Description string
	// Reason is the machine-readable reason; empty means ReasonInvalidArgument.
	Reason string
}

// Error describes the mistake without echoing the value.
func (e *FieldError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Description) }

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Description: fmt.Sprintf(format, args...)}
}

// PreconditionError means the resource is not in a state that allows the call: the transport
// answers FAILED_PRECONDITION.
type PreconditionError struct {
	// Reason is the machine-readable reason, for example ReasonNotCapturable.
	Reason string
	// Message explains the failure.
	Message string
	// DeclineCode is the processor's decline code when the processor refused.
	DeclineCode string
}

// Error returns the message.
func (e *PreconditionError) Error() string { return e.Message }

func precondition(reason, format string, args ...any) *PreconditionError {
	return &PreconditionError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// AbortedError means a concurrent call is working on the same key or payment: the transport
// answers ABORTED, and the caller retries after a short backoff. Nothing was changed.
type AbortedError struct {
	// Reason is ReasonRequestInProgress, ReasonPaymentBusy or ReasonVersionMismatch.
	Reason string
	// Message explains the conflict.
	Message string
}

// Error returns the message.
func (e *AbortedError) Error() string { return e.Message }

func errInProgress() error {
	return &AbortedError{Reason: ReasonRequestInProgress, Message: "a request with this request_id is still in progress; retry after a short backoff"}
}

func errPaymentBusy() error {
	return &AbortedError{Reason: ReasonPaymentBusy, Message: "another operation on the payment is running; retry after a short backoff"}
}
