package account

import "time"

// The event types of the account service's log (see events.proto), declared once, here.
// The key of every event is the account's id.
const (
	// EventCreated announces a new account; payload AccountCreatedEvent.
	EventCreated = "account.account.created"
	// EventUpdated announces a change of profile, contacts, preferences or sub-status;
	// payload AccountUpdatedEvent.
	EventUpdated = "account.account.updated"
	// EventSuspended announces ACTIVE → SUSPENDED; payload AccountSuspendedEvent.
	EventSuspended = "account.account.suspended"
	// EventReinstated announces SUSPENDED → ACTIVE; payload AccountReinstatedEvent.
	EventReinstated = "account.account.reinstated"
	// EventDeleted announces the erasure of an account; payload AccountDeletedEvent.
	EventDeleted = "account.account.deleted"
	// EventContactVerified announces a contact that became VERIFIED; payload
	// ContactVerifiedEvent.
	EventContactVerified = "account.contact.verified"
	// EventCodeIssued carries a new one-time code to the notification service; payload
	// VerificationCodeIssuedEvent.
	EventCodeIssued = "account.verification_code.issued"
)

// EventTypes lists every event type the account service emits, for serve.Spec.EventTypes.
var EventTypes = []string{
	EventCreated, EventUpdated, EventSuspended, EventReinstated, EventDeleted,
	EventContactVerified, EventCodeIssued,
}

// Event is one event of an account, as the domain decides it; storage emits it in the
// transaction of the change, with a payload the transport's encoder builds.
type Event struct {
	// Type is one of EventTypes.
	Type string
	// Account is the account after the change.
	Account Account
	// By is the subject of the caller who created or deleted the account.
	By string
	// ChangedPaths are the top-level fields an update changed, sorted.
	ChangedPaths []string
	// Kind is the contact verified, or the contact a code was issued for.
	Kind ContactKind
	// Issued is the code of EventCodeIssued.
	Issued *IssuedCode
}

// IssuedCode is a new one-time code as the notification service needs it. The plain
// code lives only here (in memory, and in the event's payload); storage keeps its HMAC.
type IssuedCode struct {
	Code, CodeID, Destination string
	IssueTime, ExpireTime     time.Time
}
