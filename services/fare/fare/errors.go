package fare

import (
	"errors"
	"fmt"
)

// The domain's errors. The transport maps each to one gRPC code, once.
var (
	// ErrNotFound means the rate card, version, quote or surge does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a rate card already prices the product key.
	ErrAlreadyExists = errors.New("already exists")
	// ErrStaleVersion means the caller's version is not the latest: re-read and retry.
	ErrStaleVersion = errors.New("stale version")
	// ErrConflict means the change lost a race with a concurrent one; retrying may work.
	ErrConflict = errors.New("conflict with a concurrent change")
	// ErrPermissionDenied means the caller's role may not make the call.
	ErrPermissionDenied = errors.New("permission denied")
)

// FieldError is invalid input: Field names the request field (in the API's snake_case
// path form, for example "rate_card.inventory.unit_price") and Description says why.
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
