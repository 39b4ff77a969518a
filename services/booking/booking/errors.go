package booking

import "github.com/waybill/waybill/kit/errs"

// The reasons of booking's errors, sent as ErrorInfo reasons (domain
// "booking.waybill.dev"). The kinds, and their translation to gRPC codes, are kit/errs's
// and kit/grpcerr's; these say which of booking's rules refused a call.
const (
	// ReasonInsufficientAvailability: too few seats or rooms are free.
	ReasonInsufficientAvailability = "INSUFFICIENT_AVAILABILITY"
	// ReasonPriceChanged: the price at hold time differs from the expected price.
	ReasonPriceChanged = "PRICE_CHANGED"
	// ReasonNotPriced: the fare service has no rate card for the product.
	ReasonNotPriced = "NOT_PRICED"
	// ReasonFareUnavailable: the fare service could not price a hold now (UNAVAILABLE);
	// booking's own database being unavailable is pgxutil's DATABASE_UNAVAILABLE.
	ReasonFareUnavailable = "FARE_UNAVAILABLE"
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
	// ReasonVersionMismatch: the request's version is not the resource's current one
	// (ABORTED): read it again and retry.
	ReasonVersionMismatch = "VERSION_MISMATCH"
)

// ErrInsufficientAvailability is the error of a hold that finds too few seats or rooms
// free, whether the domain sees it first or the database's capacity check does;
// errors.Is matches any error of its kind and reason.
var ErrInsufficientAvailability = errs.Precondition(ReasonInsufficientAvailability, "too few seats or rooms are free")
