package billing

import "github.com/waybill/waybill/kit/errs"

// Reasons say machine-readably why a call failed. Billing's errors are kit/errs errors
// of the kind that decides the code, with one of these reasons; the transport's
// interceptor reports them in ErrorInfo (domain "billing.waybill.dev").
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
	ReasonPaymentUnavailable     = "PAYMENT_UNAVAILABLE"
	ReasonPermissionDenied       = "PERMISSION_DENIED"
)

// billNotFound is the error for a bill that does not exist or that the caller may not
// see.
func billNotFound(id string) error {
	return errs.Missing(ReasonBillNotFound, "bill %s not found", id)
}

// reservationNotFound is the error for a reservation its provider does not have, or that
// belongs to another customer than the calling customer.
func reservationNotFound(provider, id string) error {
	return errs.Missing(ReasonReservationNotFound, "%s has no reservation %s", provider, id)
}

// denied is the error for a caller whose role may not make the call.
func denied(format string, args ...any) error {
	return errs.Denied(ReasonPermissionDenied, format, args...)
}
