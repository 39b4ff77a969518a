package matching

// The event types of the matching service's log (see events.proto), declared once, here.
const (
	// EventTypeDriverAvailabilityChanged announces a driver going online or offline
	// (SetDriverAvailability); its key is the driver's id and its payload a
	// waybill.matching.v1.DriverAvailabilityChangedEvent.
	EventTypeDriverAvailabilityChanged = "matching.driver.availability_changed"
	// EventTypeDriverAssigned announces a driver accepting an offer; its key is the
	// trip's id and its payload a waybill.matching.v1.DriverAssignedEvent (Match with
	// its offers, Driver, Offer).
	EventTypeDriverAssigned = "matching.driver.assigned"
	// EventTypeDriverReleased announces a driver released from a ride (ReleaseDriver, or
	// CancelMatch of an ASSIGNED match); its key is the trip's id and its payload a
	// waybill.matching.v1.DriverReleasedEvent (Driver, TripID, MatchID, Reason).
	EventTypeDriverReleased = "matching.driver.released"
	// EventTypeMatchFailed announces a match that ended without a driver; its key is the
	// trip's id and its payload a waybill.matching.v1.MatchFailedEvent (Match with its
	// offers).
	EventTypeMatchFailed = "matching.match.failed"
	// EventTypeZoneSupplyDemand announces a zone's (an S2 cell of level ZoneLevel)
	// counts of available drivers and open requests when they changed; its key is the
	// zone's token and its payload a waybill.matching.v1.ZoneSupplyDemandEvent (Zone).
	EventTypeZoneSupplyDemand = "matching.zone.supply_demand"
)

// EventTypes lists every event type the matching service emits, for
// serve.Spec.EventTypes.
var EventTypes = []string{
	EventTypeDriverAssigned,
	EventTypeDriverReleased,
	EventTypeMatchFailed,
	EventTypeDriverAvailabilityChanged,
	EventTypeZoneSupplyDemand,
}

// Event is one event of matching, as the domain decides it; storage emits it in the
// transaction of the change, with a payload the transport's encoder builds. Which
// fields are set depends on Type (see the event types).
type Event struct {
	// Type is one of EventTypes.
	Type string
	// Key is the event's key: the driver's id for availability changes, the trip's id
	// for assignments, releases and failures, the zone's token for supply and demand.
	Key string
	// Driver is the driver after the change.
	Driver Driver
	// Previous is the driver's status before the change.
	Previous Status
	// Match is the match after the change, with all its offers.
	Match Match
	// Offer is the accepted offer.
	Offer Offer
	// TripID, MatchID and Reason describe a release.
	TripID, MatchID, Reason string
	// Zone is a zone's supply and demand.
	Zone ZoneCount
}
