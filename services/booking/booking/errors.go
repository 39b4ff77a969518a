package booking

import (
	"errors"
	"fmt"
	"strings"
)

// The errors of the booking domain. Storage maps database errors to them once; the
// transport maps them to gRPC codes once.
var (
	// ErrNotFound means the departure, property, fare class, room type or reservation does
	// not exist (or the caller may not see it).
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the caller's input is invalid; an *InvalidError names the fields.
	ErrInvalid = errors.New("invalid argument")
	// ErrFailedPrecondition means the resource is not in a state that allows the change;
	// a *PreconditionError may carry a machine-readable reason.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrInsufficientAvailability means too few seats or rooms are free for a hold.
	ErrInsufficientAvailability = &PreconditionError{Reason: ReasonInsufficientAvailability, Message: "too few seats or rooms are free"}
	// ErrPermissionDenied means the caller may not make this change.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnauthenticated means the call carries no identity but needs one.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrAlreadyExists means a resource with the same identity exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the change lost a race (a stale version, or a concurrent
	// transaction); the caller may read again and retry.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a dependency (the fare service) could not answer.
	ErrUnavailable = errors.New("dependency unavailable")
)

// Machine-readable reasons of precondition failures, sent as ErrorInfo reasons.
const (
	// ReasonInsufficientAvailability: too few seats or rooms are free.
	ReasonInsufficientAvailability = "INSUFFICIENT_AVAILABILITY"
	// ReasonPriceChanged: the price at hold time differs from the expected price.
	ReasonPriceChanged = "PRICE_CHANGED"
	// ReasonNotPriced: the fare service has no rate card for the product.
	ReasonNotPriced = "NOT_PRICED"
	// ReasonInvalidTransition: the reservation's status does not allow the change.
	ReasonInvalidTransition = "INVALID_STATUS_TRANSITION"
	// ReasonHoldExpired: the hold lapsed before the call.
	ReasonHoldExpired = "HOLD_EXPIRED"
	// ReasonNotOnSale: the departure or property does not take holds.
	ReasonNotOnSale = "NOT_ON_SALE"
	// ReasonOutsideWindow: the call is outside the allowed time window.
	ReasonOutsideWindow = "OUTSIDE_WINDOW"
	// ReasonInUse: inventory still referenced by reservations cannot be removed or shrunk.
	ReasonInUse = "INVENTORY_IN_USE"
)

// FieldViolation is one invalid field of a request.
type FieldViolation struct {
	// Field is the field's path in the request, for example "reservation.quantity".
	Field string
	// Description says what is wrong.
	Description string
}

// InvalidError reports invalid input, field by field. It matches ErrInvalid.
type InvalidError struct {
	// Violations lists the invalid fields, at least one.
	Violations []FieldViolation
}

// Invalid returns an *InvalidError for one field.
func Invalid(field, format string, args ...any) *InvalidError {
	return &InvalidError{Violations: []FieldViolation{{Field: field, Description: fmt.Sprintf(format, args...)}}}
}

// Error lists the violations.
func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// PreconditionError reports a change the resource's state does not allow. It matches
// ErrFailedPrecondition.
type PreconditionError struct {
	// Reason is a machine-readable reason such as ReasonPriceChanged.
	Reason string
	// Message says what is wrong, for people.
	Message string
}

// Precondition returns a *PreconditionError.
func Precondition(reason, format string, args ...any) *PreconditionError {
	return &PreconditionError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Error returns the message.
func (e *PreconditionError) Error() string { return "failed precondition: " + e.Message }

// Is makes errors.Is(err, ErrFailedPrecondition) hold, and compares reasons with another
// *PreconditionError.
func (e *PreconditionError) Is(target error) bool {
	if target == ErrFailedPrecondition {
		return true
	}
	t, ok := target.(*PreconditionError)
	return ok && t.Reason == e.Reason
}

// validator collects field violations.
type validator struct{ violations []FieldViolation }

// check records a violation of field when ok is false.
func (v *validator) check(ok bool, field, format string, args ...any) {
	if !ok {
		v.violations = append(v.violations, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
}

// err returns the collected violations as an *InvalidError, or nil.
func (v *validator) err() error {
	if len(v.violations) == 0 {
		return nil
	}
	return &InvalidError{Violations: v.violations}
}
