// Package errs is Waybill's one vocabulary of domain errors. Domain code returns an
// *Error of a Kind with a machine-readable reason; storage maps database errors into it
// once (pgxutil.MapError), and the transport maps it to a gRPC status once
// (grpcerr.ToStatus, called by kit/grpcserver's interceptor for every handler). Each
// service declares only its reasons.
package errs

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error by what the caller can do about it. It decides the gRPC code.
// A Kind is itself an error, so errors.Is(err, errs.NotFound) asks an error's kind.
type Kind uint8

// The kinds, one per gRPC code a service may answer on purpose.
const (
	// Unknown is the kind of errors that carry none: the transport masks them as
	// INTERNAL.
	Unknown Kind = iota
	// InvalidArgument means the request is wrong whatever the state: the fields say
	// which part.
	InvalidArgument
	// NotFound means the object does not exist, or the caller may not see it.
	NotFound
	// AlreadyExists means an object with the same identity exists.
	AlreadyExists
	// FailedPrecondition means the object's state does not allow the call; the reason
	// says which state.
	FailedPrecondition
	// Aborted means the call lost a race (a concurrent change, a stale version, a request
	// still in progress): reading again and retrying may succeed.
	Aborted
	// PermissionDenied means the caller is known but may not make the call.
	PermissionDenied
	// Unauthenticated means the call needs an identity it does not carry.
	Unauthenticated
	// Unavailable means a dependency (the database, another service) cannot answer now:
	// the call may be retried.
	Unavailable
	// ResourceExhausted means a limit was reached (a quota, concurrent streams).
	ResourceExhausted
)

var kindNames = [...]string{
	Unknown:            "UNKNOWN",
	InvalidArgument:    "INVALID_ARGUMENT",
	NotFound:           "NOT_FOUND",
	AlreadyExists:      "ALREADY_EXISTS",
	FailedPrecondition: "FAILED_PRECONDITION",
	Aborted:            "ABORTED",
	PermissionDenied:   "PERMISSION_DENIED",
	Unauthenticated:    "UNAUTHENTICATED",
	Unavailable:        "UNAVAILABLE",
	ResourceExhausted:  "RESOURCE_EXHAUSTED",
}

// String returns the kind's name in gRPC's spelling, for example "NOT_FOUND".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Error makes a Kind an error value to match with errors.Is.
func (k Kind) Error() string { return strings.ToLower(strings.ReplaceAll(k.String(), "_", " ")) }

// FieldViolation is one invalid field of a request.
type FieldViolation struct {
	// Field is the field's path in the request, in the API's snake_case form, for
	// example "reservation.quantity".
	Field string
	// Description says what is wrong, without echoing the value.
	Description string
}

// Error is a classified domain error.
type Error struct {
	// Kind decides the gRPC code.
	Kind Kind
	// Reason says machine-readably why the call failed, in UPPER_SNAKE_CASE (for example
	// "HOLD_EXPIRED"); empty means the kind's name.
	Reason string
	// Message says what failed, for people. It is what the caller sees.
	Message string
	// Fields lists the invalid fields of an InvalidArgument error.
	Fields []FieldViolation
	// Metadata is extra machine-readable detail for the caller (ErrorInfo metadata).
	Metadata map[string]string
	// Err is the cause, for logs and errors.Is; callers never see it.
	Err error
}

// Error returns the message, followed by the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind, or an *Error of the same kind and reason.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Kind:
		return t == e.Kind
	case *Error:
		return t.Kind == e.Kind && t.ReasonOrKind() == e.ReasonOrKind()
	}
	return false
}

// ReasonOrKind returns the reason, or the kind's name when the error has none.
func (e *Error) ReasonOrKind() string {
	if e.Reason != "" {
		return e.Reason
	}
	return e.Kind.String()
}

// WithCause returns a copy of e with err as its cause.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// WithMetadata returns a copy of e with key set to value in its metadata.
func (e *Error) WithMetadata(key, value string) *Error {
	c := *e
	c.Metadata = make(map[string]string, len(e.Metadata)+1)
	for k, v := range e.Metadata {
		c.Metadata[k] = v
	}
	c.Metadata[key] = value
	return &c
}

// New returns an *Error of kind with reason and a formatted message.
func New(kind Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an InvalidArgument error naming field; the message is "<field>: <description>".
func Invalid(field, format string, args ...any) *Error {
	return InvalidFields(FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// InvalidFields returns an InvalidArgument error naming every field of vs (at least one).
func InvalidFields(vs ...FieldViolation) *Error {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Field + ": " + v.Description
	}
	return &Error{Kind: InvalidArgument, Message: "invalid argument: " + strings.Join(parts, "; "), Fields: vs}
}

// Missing returns a NotFound error.
func Missing(reason, format string, args ...any) *Error {
	return New(NotFound, reason, format, args...)
}

// Exists returns an AlreadyExists error.
func Exists(reason, format string, args ...any) *Error {
	return New(AlreadyExists, reason, format, args...)
}

// Precondition returns a FailedPrecondition error: the state does not allow the call.
func Precondition(reason, format string, args ...any) *Error {
	return New(FailedPrecondition, reason, format, args...)
}

// Abort returns an Aborted error: the call lost a race and may be retried.
func Abort(reason, format string, args ...any) *Error {
	return New(Aborted, reason, format, args...)
}

// Denied returns a PermissionDenied error.
func Denied(reason, format string, args ...any) *Error {
	return New(PermissionDenied, reason, format, args...)
}

// ReasonFieldNotSettable is the reason of a PermissionDenied error refusing a request field
// the caller's role may not set (for example a customer setting an operator's sub-status, or
// another customer's id). The field's request path is in the ErrorInfo metadata key "field".
const ReasonFieldNotSettable = "FIELD_NOT_SETTABLE"

// NotSettable returns a PermissionDenied error (reason FIELD_NOT_SETTABLE) refusing field, a
// request path in the API's snake_case form; the message is "<field>: <description>".
func NotSettable(field, format string, args ...any) *Error {
	return &Error{
		Kind: PermissionDenied, Reason: ReasonFieldNotSettable,
		Message:  field + ": " + fmt.Sprintf(format, args...),
		Metadata: map[string]string{"field": field},
	}
}

// NoIdentity returns an Unauthenticated error.
func NoIdentity(format string, args ...any) *Error {
	return New(Unauthenticated, "", format, args...)
}

// Unreachable returns an Unavailable error: a dependency cannot answer now.
func Unreachable(reason, format string, args ...any) *Error {
	return New(Unavailable, reason, format, args...)
}

// Exhausted returns a ResourceExhausted error.
func Exhausted(reason, format string, args ...any) *Error {
	return New(ResourceExhausted, reason, format, args...)
}

// As returns the *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err: that of the first *Error or Kind in its chain, or
// Unknown.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return Unknown
}

// Violations collects the invalid fields of a request, to report them all at once.
type Violations struct{ list []FieldViolation }

// Check records a violation of field when ok is false.
func (v *Violations) Check(ok bool, field, format string, args ...any) {
	if !ok {
		v.Add(field, format, args...)
	}
}

// Add records a violation of field.
func (v *Violations) Add(field, format string, args ...any) {
	v.list = append(v.list, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Err returns the violations as an InvalidArgument *Error, or nil when there are none.
func (v *Violations) Err() error {
	if len(v.list) == 0 {
		return nil
	}
	return InvalidFields(v.list...)
}
