package payment

import (
	"github.com/waybill/waybill/kit/errs"
)

// Reasons name why a call failed, machine-readably: the ErrorInfo reasons of the payment
// service's errors (kit/errs kinds carry them; kit/grpcerr puts them on the wire). The
// reasons of reused and in-flight request ids are kit/idempotency's.
const (
	ReasonPaymentBusy           = "PAYMENT_BUSY"
	ReasonPaymentPending        = "PAYMENT_PENDING_RECONCILIATION"
	ReasonMethodDisabled        = "PAYMENT_METHOD_DISABLED"
	ReasonMethodExpired         = "PAYMENT_METHOD_EXPIRED"
	ReasonNotCapturable         = "PAYMENT_NOT_CAPTURABLE"
	ReasonExceedsCapturable     = "AMOUNT_EXCEEDS_CAPTURABLE"
	ReasonNotVoidable           = "PAYMENT_NOT_VOIDABLE"
	ReasonNotRefundable         = "PAYMENT_NOT_REFUNDABLE"
	ReasonExceedsRefundable     = "AMOUNT_EXCEEDS_REFUNDABLE"
	ReasonExceedsReservable     = "AMOUNT_EXCEEDS_RESERVABLE"
	ReasonCardDeclined          = "CARD_DECLINED"
	ReasonVersionMismatch       = "VERSION_MISMATCH"
	ReasonSettlementExists      = "SETTLEMENT_EXISTS"
	ReasonSettlementRequestUsed = "SETTLEMENT_REQUEST_ID_USED"
	ReasonProcessorUnavailable  = "PROCESSOR_UNAVAILABLE"
	ReasonUnknownProcessorToken = "UNKNOWN_PROCESSOR_TOKEN"
)

// errPaymentBusy is the error of a call that finds another operation running on the
// payment.
func errPaymentBusy() error {
	return errs.Abort(ReasonPaymentBusy, "another operation on the payment is running; retry after a short backoff")
}

// errProcessorUnavailable is the error of a call that could not reach the processor, and
// sent it nothing: it may be retried with the same request id.
func errProcessorUnavailable(op string, cause error) error {
	return errs.Unreachable(ReasonProcessorUnavailable, "the card processor cannot be reached (%s); nothing was charged, retry later", op).WithCause(cause)
}

// notFound is the error for a resource that does not exist, or that the caller may not see.
func notFound(what, id string) error {
	return errs.Missing("", "%s %s not found", what, id)
}
