package payment

// The event types the service emits, as events.proto lists them.
const (
	EventAuthorized          = "payment.payment.authorized"
	EventCaptured            = "payment.payment.captured"
	EventFailed              = "payment.payment.failed"
	EventVoided              = "payment.payment.voided"
	EventRefunded            = "payment.payment.refunded"
	EventSettled             = "payment.payment.settled"
	EventSettlementCompleted = "payment.settlement.completed"
)

// EventTypes lists every event type, for the event stream's filter.
var EventTypes = []string{EventAuthorized, EventCaptured, EventFailed, EventVoided, EventRefunded,
	EventSettled, EventSettlementCompleted}

// Event is one event to emit in the transaction of the change that causes it. The storage layer
// turns it into the events.proto payload.
type Event struct {
	// Type is one of the Event* constants.
	Type string
	// Key is the payment id, or the settlement id for EventSettlementCompleted.
	Key string
	// Payment is the payment after the change (payment events).
	Payment *Payment
	// Operation is the operation that caused the change; nil for EventSettled.
	Operation *Operation
	// SettlementID is the settlement of EventSettled.
	SettlementID string
	// Settlement is the completed settlement of EventSettlementCompleted.
	Settlement *Settlement
}

func paymentEvent(typ string, p Payment, op Operation) Event {
	p.Timeline = nil
	return Event{Type: typ, Key: p.ID, Payment: &p, Operation: &op}
}
