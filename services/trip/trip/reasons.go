package trip

import (
	"github.com/waybill/waybill/kit/errs"
)

// The reasons of trip's own errors (ErrorInfo.reason); every other error carries its
// kind's name (kit/errs).
const (
	// ReasonNotInGoodStanding refuses a ride request of a rider billing reports BLOCKED.
	ReasonNotInGoodStanding = "CUSTOMER_NOT_IN_GOOD_STANDING"
	// ReasonActiveTripExists refuses a ride request of a rider who has an unfinished trip.
	ReasonActiveTripExists = "ACTIVE_TRIP_EXISTS"
	// ReasonProductNotOffered refuses a ride request for a product fare has no rate card
	// for in the city.
	ReasonProductNotOffered = "PRODUCT_NOT_OFFERED"
	// ReasonWrongStatus refuses a transition the trip's status does not allow; the
	// ErrorInfo metadata "status" holds the current status.
	ReasonWrongStatus = "TRIP_WRONG_STATUS"
	// ReasonMatchMismatch refuses an AssignDriver whose match is not ASSIGNED to that
	// driver for that trip.
	ReasonMatchMismatch = "MATCH_NOT_ASSIGNED"
	// ReasonBillingUnavailable, ReasonFareUnavailable and ReasonMatchingUnavailable say
	// which service could not be reached.
	ReasonBillingUnavailable  = "BILLING_UNAVAILABLE"
	ReasonFareUnavailable     = "FARE_UNAVAILABLE"
	ReasonMatchingUnavailable = "MATCHING_UNAVAILABLE"
	// ReasonRequestBeingCleanedUp answers a retry of a request whose earlier attempt is
	// being undone: retry shortly with the same request id.
	ReasonRequestBeingCleanedUp = "REQUEST_BEING_CLEANED_UP"
)

// wrongStatus returns the FAILED_PRECONDITION error of a transition from status that is
// not allowed, with the status in the metadata.
func wrongStatus(status Status, format string, args ...any) error {
	return errs.Precondition(ReasonWrongStatus, format, args...).WithMetadata("status", statusName(status))
}

// statusName returns the contract's name of s (TRIP_STATUS_…).
func statusName(s Status) string {
	switch s {
	case StatusRequested:
		return "TRIP_STATUS_REQUESTED"
	case StatusDriverAssigned:
		return "TRIP_STATUS_DRIVER_ASSIGNED"
	case StatusStarted:
		return "TRIP_STATUS_STARTED"
	case StatusEnded:
		return "TRIP_STATUS_ENDED"
	case StatusCancelled:
		return "TRIP_STATUS_CANCELLED"
	}
	return "TRIP_STATUS_UNSPECIFIED"
}

// notFound is the error for a trip that does not exist or the caller may not see.
func notFound(id string) error { return errs.Missing("", "trip %s not found", id) }
