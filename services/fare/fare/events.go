package fare

// The event types of the fare service's log (see events.proto), declared once, here.
const (
	// EventTypeRateCardUpdated announces a rate card version, on create and on every
	// update; its key is the card's id and its payload a waybill.fare.v1.RateCardEvent.
	EventTypeRateCardUpdated = "fare.rate_card.updated"
	// EventTypeFareCalculated announces a ride's final fare; it arrives with ride fares.
	EventTypeFareCalculated = "fare.fare.calculated"
)

// EventTypes lists every event type the fare service emits, for serve.Spec.EventTypes.
var EventTypes = []string{EventTypeRateCardUpdated, EventTypeFareCalculated}
