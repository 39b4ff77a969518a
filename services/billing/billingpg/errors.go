package billingpg

import (
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/billing/billing"
)

// constraints are billing's named constraints, reported with billing's own reasons;
// every other database error is mapped by pgxutil.MapError (in kit/txn for
// transactions).
var constraints = pgxutil.Constraints{
	// bill_items_active_reservation keeps a reservation on one bill that is not
	// cancelled: a concurrent AddBillItem of the same reservation to another bill.
	"bill_items_active_reservation": errs.Exists(billing.ReasonAlreadyBilled,
		"the reservation is already an item of a bill that is not cancelled"),
}
