package matching

// The event types of the matching service's log (see events.proto), declared once, here.
const (
	// EventTypeDriverAvailabilityChanged announces a driver going online or offline
	// (SetDriverAvailability); its key is the driver's id and its payload a
	// waybill.matching.v1.DriverAvailabilityChangedEvent.
	EventTypeDriverAvailabilityChanged = "matching.driver.availability_changed"
	// EventTypeDriverAssigned announces a driver accepting an offer; it arrives with
	// matches.
	EventTypeDriverAssigned = "matching.driver.assigned"
	// EventTypeDriverReleased announces a driver released from a ride; it arrives with
	// matches.
	EventTypeDriverReleased = "matching.driver.released"
	// EventTypeMatchFailed announces a match that ended without a driver; it arrives with
	// matches.
	EventTypeMatchFailed = "matching.match.failed"
)

// EventTypes lists every event type the matching service emits, for
// serve.Spec.EventTypes.
var EventTypes = []string{
	EventTypeDriverAssigned,
	EventTypeDriverReleased,
	EventTypeMatchFailed,
	EventTypeDriverAvailabilityChanged,
}

// Event is one event of a driver, as the domain decides it; storage emits it in the
// transaction of the change, with a payload the transport's encoder builds.
type Event struct {
	// Type is one of EventTypes.
	Type string
	// Key is the event's key: the driver's id for availability changes.
	Key string
	// Driver is the driver after the change.
	Driver Driver
	// Previous is the driver's status before the change.
	Previous Status
}
