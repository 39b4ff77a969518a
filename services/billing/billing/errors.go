package billing

import (
	"errors"
	"fmt"
)

// The domain's errors. The transport maps each to one gRPC code, once.
var (
	// ErrNotFound means the bill, item or reservation does not exist, or the caller may
	// not see it.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means the reservation is already an item of a bill that is not
	// cancelled.
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition means the bill or the reservation is in the wrong state for
	// the call.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrStaleVersion means the caller's expected version is not the bill's version.
	ErrStaleVersion = errors.New("stale version")
	// ErrConflict means the change lost a race with a concurrent one; retrying may work.
	ErrConflict = errors.New("conflict with a concurrent change")
	// ErrPermissionDenied means the caller's role may not make the call.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable means a provider could not be reached; the call may be retried.
	ErrUnavailable = errors.New("unavailable")
)

// Reasons say machine-readably why a call failed; the transport puts them in ErrorInfo.
const (
	ReasonBillNotFound           = "BILL_NOT_FOUND"
	ReasonItemNotFound           = "ITEM_NOT_FOUND"
	ReasonReservationNotFound    = "RESERVATION_NOT_FOUND"
	ReasonBillNotOpen            = "BILL_NOT_OPEN"
	ReasonBillEmpty              = "BILL_EMPTY"
	ReasonBillNotCancellable     = "BILL_NOT_CANCELLABLE"
	ReasonBillNotPayable         = "BILL_NOT_PAYABLE"
	ReasonPaymentInProgress      = "PAYMENT_IN_PROGRESS"
	ReasonItemSummaryUnavailable = "ITEM_SUMMARY_UNAVAILABLE"
	ReasonCurrencyMismatch       = "CURRENCY_MISMATCH"
	ReasonNotBillable            = "RESERVATION_NOT_BILLABLE"
	ReasonCustomerMismatch       = "RESERVATION_CUSTOMER_MISMATCH"
	ReasonAlreadyBilled          = "RESERVATION_ALREADY_BILLED"
	ReasonVersionMismatch        = "VERSION_MISMATCH"
	ReasonProviderUnavailable    = "PROVIDER_UNAVAILABLE"
	ReasonPermissionDenied       = "PERMISSION_DENIED"
	ReasonConflict               = "CONFLICT"
)

// ReasonError is a domain error with a machine-readable reason: errors.Is matches its
// Kind (one of the sentinel errors above), and the transport reports Reason.
type ReasonError struct {
	// Kind is the sentinel error that decides the gRPC code.
	Kind error
	// Reason is the machine-readable reason, for example ReasonBillNotOpen.
	Reason string
	// Message says what went wrong, for the caller.
	Message string
}

// Error implements error.
func (e *ReasonError) Error() string { return e.Message }

// Unwrap lets errors.Is match Kind.
func (e *ReasonError) Unwrap() error { return e.Kind }

// reasonf returns a *ReasonError of kind with reason and a formatted message.
func reasonf(kind error, reason, format string, args ...any) error {
	return &ReasonError{Kind: kind, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// FieldError is invalid input: Field names the request field (in the API's snake_case
// form, for example "currency_code") and Description says why.
type FieldError struct {
	// Field is the request field's path.
	Field string
	// Description says what is wrong, for the caller.
	Description string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Description }

// Invalid returns a *FieldError for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Description: fmt.Sprintf(format, args...)}
}
