package analytics

// The event types of the analytics service's log (see events.proto), declared once, here.
const (
	// EventTypeAlertRaised announces an alert whose rule's condition became true; its key
	// is the alert id and its payload a waybill.analytics.v1.AlertEvent.
	EventTypeAlertRaised = "analytics.alert.raised"
	// EventTypeAlertCleared announces that an open alert's condition became false.
	EventTypeAlertCleared = "analytics.alert.cleared"
)

// EventTypes lists every event type the analytics service emits, for serve.Spec.EventTypes.
var EventTypes = []string{EventTypeAlertRaised, EventTypeAlertCleared}
