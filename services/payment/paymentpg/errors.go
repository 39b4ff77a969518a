package paymentpg

import (
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/payment/payment"
)

// constraints maps the payment schema's named constraints to the domain's errors: what
// collided, or which limit the database refused. Every other database error leaves through
// pgxutil.MapError (constraints.Map falls back to it).
var constraints = pgxutil.Constraints{
	"settlement_one_per_date": errs.Exists(payment.ReasonSettlementExists,
		"the date already has a settlement that is running or completed"),
	"settlement_request_id_key": errs.Exists(payment.ReasonSettlementRequestUsed,
		"a settlement was started with this request_id"),
	"payment_captured_within_authorized": errs.Precondition(payment.ReasonExceedsCapturable,
		"the captured amount would exceed the authorized amount"),
	"payment_refunded_within_captured": errs.Precondition(payment.ReasonExceedsRefundable,
		"the refunded amount would exceed the captured amount"),
	"payment_busy_within_limits": errs.Precondition(payment.ReasonExceedsReservable,
		"the operation's amount exceeds what the payment can still capture or refund"),
}
