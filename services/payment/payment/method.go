package payment

import "time"

// Brand is a card network.
type Brand int

// The brands.
const (
	BrandUnspecified Brand = iota
	BrandVisa
	BrandMastercard
	BrandAmex
	BrandDiscover
	BrandJCB
	BrandUnionPay
	BrandDiners
	BrandOther
)

var brandNames = map[Brand]string{
	BrandVisa: "visa", BrandMastercard: "mastercard", BrandAmex: "amex", BrandDiscover: "discover",
	BrandJCB: "jcb", BrandUnionPay: "unionpay", BrandDiners: "diners", BrandOther: "other",
}

// String returns the brand's stored name.
func (b Brand) String() string {
	if s, ok := brandNames[b]; ok {
		return s
	}
	return "unspecified"
}

// ParseBrand is the inverse of String; unknown names are BrandOther.
func ParseBrand(s string) Brand {
	for b, n := range brandNames {
		if n == s {
			return b
		}
	}
	return BrandOther
}

// MethodStatus is the main status of a payment method.
type MethodStatus int

// The method statuses. ACTIVE → DISABLED; DISABLED is terminal.
const (
	MethodStatusUnspecified MethodStatus = iota
	MethodActive
	MethodDisabled
)

// String returns the status's stored name.
func (s MethodStatus) String() string {
	switch s {
	case MethodActive:
		return "active"
	case MethodDisabled:
		return "disabled"
	}
	return "unspecified"
}

// ParseMethodStatus is the inverse of String.
func ParseMethodStatus(s string) MethodStatus {
	switch s {
	case "active":
		return MethodActive
	case "disabled":
		return MethodDisabled
	}
	return MethodStatusUnspecified
}

// PaymentMethod is a customer's card as the processor's token plus display data. It never holds
// the card number or security code.
type PaymentMethod struct {
	// ID is the method's UUID.
	ID string
	// CustomerID owns the method.
	CustomerID string
	// Processor names the adapter that issued Token.
	Processor string
	// Token is the processor's opaque token.
	Token string
	// Brand, Last4, ExpiryMonth and ExpiryYear are what the processor reported.
	Brand       Brand
	Last4       string
	ExpiryMonth int
	ExpiryYear  int
	// Status is ACTIVE or DISABLED.
	Status MethodStatus
	// CreateTime, UpdateTime and DisableTime (zero while ACTIVE) are the lifecycle times.
	CreateTime, UpdateTime, DisableTime time.Time
	// Version increases by one on every change.
	Version int64
}

// Expired reports whether the method's card has expired at now.
func (m PaymentMethod) Expired(now time.Time) bool { return expired(m.ExpiryYear, m.ExpiryMonth, now) }

// MethodFilter selects payment methods for ListMethods.
type MethodFilter struct {
	// CustomerID, when set, keeps only that customer's methods.
	CustomerID string
	// Statuses, when not empty, keeps only methods in one of them.
	Statuses []MethodStatus
}
