package notification

import (
	"context"
	"time"
)

// Channel is how a message is delivered.
type Channel string

// The channels.
const (
	Email Channel = "email"
	SMS   Channel = "sms"
)

// Channels are every channel, in a fixed order.
var Channels = []Channel{Email, SMS}

// Status is where a message stands in the queue.
type Status string

// The statuses.
const (
	Pending   Status = "pending"
	Sending   Status = "sending"
	Sent      Status = "sent"
	Parked    Status = "parked"
	Discarded Status = "discarded"
	Skipped   Status = "skipped"
)

// Category is the kind of message, which decides whose preferences apply.
type Category string

// The categories.
const (
	// Transactional messages are about the customer's own bookings, bills and payments.
	Transactional Category = "transactional"
	// RideUpdates are live updates about rides.
	RideUpdates Category = "ride_updates"
	// Verification messages carry one-time codes: sent to the destination the event names,
	// whatever the preferences, although it is not verified yet.
	Verification Category = "verification"
	// OperatorAlert messages go to the configured operators.
	OperatorAlert Category = "operator_alert"
)

// OperatorsRecipient is the recipient of operator alerts.
const OperatorsRecipient = "operators"

// Trigger is what one event asks to be said.
type Trigger struct {
	// EventID is the event's id: with the recipient and the channel it keys the message,
	// so that a replayed event queues nothing twice.
	EventID string
	// Template names the template set (usually the event type).
	Template string
	// Topic is what the message is about (a reservation id): reminders about a topic are
	// skipped when a later event settles it (Settles).
	Topic string
	// CustomerID is whom it is for; empty for operator alerts and for verification codes.
	CustomerID string
	// Category decides whose preferences apply.
	Category Category
	// Data is the template's data, taken from the event's payload.
	Data map[string]any
	// Destination is the one explicit destination of a verification code.
	Destination Destination
	// SendAfter delays the first attempt (reminders); zero sends now.
	SendAfter time.Time
	// ExpiresAt is when sending stops making sense; zero never.
	ExpiresAt time.Time
}

// Destination is one recipient on one channel.
type Destination struct {
	// Recipient is the customer id, or OperatorsRecipient.
	Recipient string
	Channel   Channel
	// Address is the email address or E.164 phone number.
	Address string
	// Locale is the language to render in (BCP 47); empty means DefaultLocale.
	Locale string
	// Name is the greeting's name; may be empty.
	Name string
}

// DefaultLocale is the locale used when a customer has none, and the fallback for a
// template missing in the customer's locale.
const DefaultLocale = "en"

// Preference is a customer's choice for one category.
type Preference struct {
	Channels []Channel
	OptedOut bool
}

// Allows reports whether p lets a message of its category go out on ch.
func (p Preference) Allows(ch Channel) bool {
	if p.OptedOut {
		return false
	}
	for _, c := range p.Channels {
		if c == ch {
			return true
		}
	}
	return false
}

// Contact is the notification service's copy of a customer's contacts and preferences,
// from the account service's events.
type Contact struct {
	CustomerID    string
	Email, Phone  string
	EmailVerified bool
	PhoneVerified bool
	Locale        string
	Name          string
	// Preferences per category (Transactional, RideUpdates).
	Preferences map[Category]Preference
	// Version is the account's version this copy is of.
	Version int64
	// Deleted reports an erased account: nothing is sent to it.
	Deleted bool
}

// Route returns where the message of t goes: the verified contacts of c on the channels
// its preferences allow for t's category, the operators for alerts, or the explicit
// destination of a verification code. An unknown (nil) or deleted contact gets nothing.
func Route(t Trigger, c *Contact, operators []Destination) []Destination {
	switch t.Category {
	case Verification:
		if t.Destination.Address == "" {
			return nil
		}
		return []Destination{t.Destination}
	case OperatorAlert:
		return operators
	}
	if c == nil || c.Deleted {
		return nil
	}
	pref := c.Preferences[t.Category]
	var out []Destination
	if c.EmailVerified && c.Email != "" && pref.Allows(Email) {
		out = append(out, Destination{Recipient: c.CustomerID, Channel: Email, Address: c.Email, Locale: c.Locale, Name: c.Name})
	}
	if c.PhoneVerified && c.Phone != "" && pref.Allows(SMS) {
		out = append(out, Destination{Recipient: c.CustomerID, Channel: SMS, Address: c.Phone, Locale: c.Locale, Name: c.Name})
	}
	return out
}

// Message is one queued message.
type Message struct {
	ID         string
	EventID    string
	EventType  string
	Topic      string
	CustomerID string
	// Recipient keys the message with EventID and Channel: the customer id, or
	// "operators:<address>" for each operator.
	Recipient string
	Channel   Channel
	Address   string
	Locale    string
	Subject   string
	Text      string
	HTML      string
	Status    Status
	Attempts  int
	LastError string
	CreatedAt time.Time
	NextAt    time.Time
	SentAt    time.Time
	ExpiresAt time.Time
	// Claim identifies the worker's claim of a SENDING message: only that worker's
	// report is recorded.
	Claim string
}

// Sender delivers messages of one channel. Send returns nil once the server accepted the
// message; an error means it was not (or may not have been) accepted, and it is retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Retry is the retry schedule of failed sends.
type Retry struct {
	// Base is the delay after the first failure; each further failure doubles it.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
	// Attempts is how many attempts a message gets before it is parked.
	Attempts int
}

// DefaultRetry retries after 2 s, 4 s, … up to 10 minutes apart, 8 attempts in all.
var DefaultRetry = Retry{Base: 2 * time.Second, Max: 10 * time.Minute, Attempts: 8}

// Delay returns the wait after the n-th failed attempt (n from 1).
func (r Retry) Delay(n int) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}
