package trip

// The event types trip emits (its event log, source "trip"); every event's key is the
// trip id and its payload the trip after the change (waybill.trip.v1.TripEvent).
const (
	EventRequested      = "trip.trip.requested"
	EventDriverAssigned = "trip.trip.driver_assigned"
	EventStarted        = "trip.trip.started"
	EventEnded          = "trip.trip.ended"
	EventCancelled      = "trip.trip.cancelled"
	EventUpdated        = "trip.trip.updated"
)

// EventTypes lists every event type trip emits.
var EventTypes = []string{EventRequested, EventDriverAssigned, EventStarted, EventEnded, EventCancelled, EventUpdated}

// Event is an event a change emits: its type and the trip's status before the change.
type Event struct {
	Type           string
	PreviousStatus Status
}
