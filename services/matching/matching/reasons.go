package matching

import (
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// The reasons of matching's own errors (ErrorInfo.reason); every other error carries its
// kind's name (kit/errs).
const (
	// ReasonStaleVersion is the reason of the ABORTED error for an update that named a
	// driver version other than the current one: read the driver again and retry.
	ReasonStaleVersion = "STALE_VERSION"
	// ReasonDriverNotOffline is the reason of the FAILED_PRECONDITION error for a change
	// of city or vehicle while the driver is not OFFLINE.
	ReasonDriverNotOffline = "DRIVER_NOT_OFFLINE"
	// ReasonDriverBusy is the reason of the FAILED_PRECONDITION error for taking a driver
	// online or offline while they are OFFERED or ON_TRIP.
	ReasonDriverBusy = "DRIVER_BUSY"
	// ReasonDriverOffline is the reason of the FAILED_PRECONDITION error for a location
	// fix of an OFFLINE driver: offline drivers are not tracked.
	ReasonDriverOffline = "DRIVER_OFFLINE"
	// ReasonPlateTaken is the reason of the ALREADY_EXISTS error for a vehicle plate
	// another driver of the same city has.
	ReasonPlateTaken = "PLATE_TAKEN"
	// ReasonTripHasMatch is the reason of the ALREADY_EXISTS error for a match of a trip
	// that already has a SEARCHING, OFFERED or ASSIGNED match.
	ReasonTripHasMatch = "TRIP_HAS_MATCH"
	// ReasonDriverNotAvailable is the reason of the FAILED_PRECONDITION error for a
	// manual dispatch to a driver who is not AVAILABLE.
	ReasonDriverNotAvailable = "DRIVER_NOT_AVAILABLE"
	// ReasonDriverLocationStale is the reason of the FAILED_PRECONDITION error for a
	// manual dispatch to a driver without a fresh location.
	ReasonDriverLocationStale = "DRIVER_LOCATION_STALE"
	// ReasonProductNotServed is the reason of the FAILED_PRECONDITION error for a manual
	// dispatch to a driver whose vehicle does not serve the product.
	ReasonProductNotServed = "PRODUCT_NOT_SERVED"
	// ReasonMatchFailed is the reason of the FAILED_PRECONDITION error for cancelling a
	// FAILED match.
	ReasonMatchFailed = "MATCH_FAILED"
	// ReasonOfferAccepted is the reason of the FAILED_PRECONDITION error for declining
	// an ACCEPTED offer: the ride is cancelled through trip.
	ReasonOfferAccepted = "OFFER_ACCEPTED"
	// ReasonOfferDeclined, ReasonOfferExpired and ReasonOfferWithdrawn are the reasons
	// of the FAILED_PRECONDITION error for accepting an offer in that status (an answer
	// at or after the expire time is EXPIRED).
	ReasonOfferDeclined  = "OFFER_DECLINED"
	ReasonOfferExpired   = "OFFER_EXPIRED"
	ReasonOfferWithdrawn = "OFFER_WITHDRAWN"
)

// ErrTripHasMatch is the error for a match of a trip that already has an active one;
// storage maps the trip's unique index to it.
var ErrTripHasMatch = errs.Exists(ReasonTripHasMatch, "the trip already has a SEARCHING, OFFERED or ASSIGNED match")

// ErrPlateTaken is the error for a plate another driver of the city has; storage maps
// the plate's unique index to it.
var ErrPlateTaken = errs.Exists(ReasonPlateTaken, "another driver in this city has this vehicle plate")

// stale returns the ABORTED error of an update that named a version other than the
// current one.
func stale(given, current int64) error {
	return errs.Abort(ReasonStaleVersion, "driver version %d given, the current one is %d: read the driver again and retry", given, current)
}

// mayManage returns PERMISSION_DENIED unless c is an operator or a service.
func mayManage(c caller.Caller, what string) error {
	if !c.Privileged() {
		return errs.Denied("", "only operators and services may %s", what)
	}
	return nil
}

// mayActFor returns PERMISSION_DENIED unless c may act for driver id: operators,
// services and the driver themselves.
func mayActFor(c caller.Caller, id string) error {
	switch {
	case c.Privileged(), c.IsDriver(id):
		return nil
	case c.Role == caller.Driver:
		return errs.Denied("", "a driver may act only for themselves")
	}
	return errs.Denied("", "only the driver, operators and services may act for a driver")
}
