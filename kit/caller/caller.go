// Package caller says who is calling: a subject and a role, the identity a use case acts
// for. kit/auth reads it from verified tokens; domain packages take it as a plain value
// (they import no transport), and decide with it whose objects the caller may see.
package caller

// Role is what kind of caller an identity is.
type Role string

// The roles. Anonymous is the zero value: a call without a verified token.
const (
	Anonymous Role = ""
	Customer  Role = "customer"
	Driver    Role = "driver"
	Operator  Role = "operator"
	Service   Role = "service"
)

// Valid reports whether r is one of the roles a token may carry.
func (r Role) Valid() bool {
	switch r {
	case Customer, Driver, Operator, Service:
		return true
	}
	return false
}

// Caller is an identity: who a call acts for.
type Caller struct {
	// Subject identifies the caller: a customer id, driver id, operator name or service
	// name.
	Subject string `json:"sub"`
	// Role is the caller's role.
	Role Role `json:"role"`
}

// Privileged reports whether the caller may see and change every customer's objects:
// operators and services.
func (c Caller) Privileged() bool { return c.Role == Operator || c.Role == Service }

// MayAccess reports whether the caller may see or change objects owned by customerID:
// privileged callers, and the customer themselves.
func (c Caller) MayAccess(customerID string) bool {
	return c.Privileged() || (c.Role == Customer && c.Subject == customerID)
}

// IsDriver reports whether the caller is the driver driverID.
func (c Caller) IsDriver(driverID string) bool { return c.Role == Driver && c.Subject == driverID }
