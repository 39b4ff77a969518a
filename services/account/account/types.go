package account

import (
	"slices"
	"time"
)

// Status is an account's main status, owned and enforced by the account service. The
// numbers are the contract's (waybill.account.v1.AccountStatus) and are what storage
// keeps.
type Status int16

// The statuses; see Status.CanBecome for the transitions.
const (
	// StatusUnspecified is never stored; in a filter it means any status.
	StatusUnspecified Status = 0
	// StatusActive: the customer may hold, ride and pay.
	StatusActive Status = 1
	// StatusSuspended: an operator suspended the account; the gates refuse the customer.
	StatusSuspended Status = 2
	// StatusDeleted: the personal data is erased; final.
	StatusDeleted Status = 3
)

// Valid reports whether s is a status an account can be in.
func (s Status) Valid() bool { return s >= StatusActive && s <= StatusDeleted }

// String returns the status's name, for messages.
func (s Status) String() string {
	switch s {
	case StatusActive:
		return "ACTIVE"
	case StatusSuspended:
		return "SUSPENDED"
	case StatusDeleted:
		return "DELETED"
	}
	return "UNSPECIFIED"
}

// CanBecome reports whether an account in status s may move to next: ACTIVE ⇄ SUSPENDED,
// and either → DELETED. DELETED is final.
func (s Status) CanBecome(next Status) bool {
	switch s {
	case StatusActive:
		return next == StatusSuspended || next == StatusDeleted
	case StatusSuspended:
		return next == StatusActive || next == StatusDeleted
	}
	return false
}

// ContactKind names one of an account's contacts; the numbers are the contract's
// (waybill.account.v1.ContactKind).
type ContactKind int16

// The contact kinds.
const (
	// KindUnspecified is invalid in requests.
	KindUnspecified ContactKind = 0
	// KindEmail is the email address.
	KindEmail ContactKind = 1
	// KindPhone is the phone number.
	KindPhone ContactKind = 2
)

// Valid reports whether k names a contact.
func (k ContactKind) Valid() bool { return k == KindEmail || k == KindPhone }

// String returns the contact's field name, for messages.
func (k ContactKind) String() string {
	switch k {
	case KindEmail:
		return "email"
	case KindPhone:
		return "phone"
	}
	return "unspecified"
}

// Channel is a way of delivering a notification; the numbers are the contract's
// (waybill.account.v1.Channel).
type Channel int16

// The channels.
const (
	// ChannelUnspecified is invalid.
	ChannelUnspecified Channel = 0
	// ChannelEmail delivers to the verified email address.
	ChannelEmail Channel = 1
	// ChannelSMS delivers to the verified phone number.
	ChannelSMS Channel = 2
)

// Valid reports whether c is a channel.
func (c Channel) Valid() bool { return c == ChannelEmail || c == ChannelSMS }

// Profile is how the customer is addressed.
type Profile struct {
	DisplayName string `json:"display_name,omitempty"`
	// Locale is a BCP 47 tag in canonical case; empty means "en".
	Locale string `json:"locale,omitempty"`
	// TimeZone is an IANA name; empty means "UTC".
	TimeZone string `json:"time_zone,omitempty"`
}

// Contact is an email address or an E.164 phone number with its verification.
type Contact struct {
	// Address is the email address or phone number; empty means no contact.
	Address string `json:"address,omitempty"`
	// VerifyTime is when the address was verified; zero while unverified.
	VerifyTime time.Time `json:"verify_time,omitzero"`
	// Masked is true when Address was masked for a list.
	Masked bool `json:"masked,omitempty"`
}

// Set reports whether the contact has an address.
func (c Contact) Set() bool { return c.Address != "" }

// Verified reports whether the address was verified.
func (c Contact) Verified() bool { return c.Address != "" && !c.VerifyTime.IsZero() }

// CategoryPreference is the customer's choice for one category of notifications.
type CategoryPreference struct {
	// Channels are distinct, sorted channels.
	Channels []Channel `json:"channels"`
	// OptedOut stops the whole category.
	OptedOut bool `json:"opted_out"`
}

func (p CategoryPreference) equal(q CategoryPreference) bool {
	return p.OptedOut == q.OptedOut && slices.Equal(p.Channels, q.Channels)
}

// Preferences are the customer's choices per category.
type Preferences struct {
	Transactional CategoryPreference `json:"transactional"`
	RideUpdates   CategoryPreference `json:"ride_updates"`
	Marketing     CategoryPreference `json:"marketing"`
}

// DefaultPreferences are a new account's preferences: transactional messages and ride
// updates by email and SMS, marketing opted out until the customer consents.
func DefaultPreferences() Preferences {
	return Preferences{
		Transactional: CategoryPreference{Channels: []Channel{ChannelEmail, ChannelSMS}},
		RideUpdates:   CategoryPreference{Channels: []Channel{ChannelEmail, ChannelSMS}},
		Marketing:     CategoryPreference{Channels: []Channel{ChannelEmail}, OptedOut: true},
	}
}

func (p Preferences) equal(q Preferences) bool {
	return p.Transactional.equal(q.Transactional) && p.RideUpdates.equal(q.RideUpdates) && p.Marketing.equal(q.Marketing)
}

func (p Preferences) clone() Preferences {
	p.Transactional.Channels = slices.Clone(p.Transactional.Channels)
	p.RideUpdates.Channels = slices.Clone(p.RideUpdates.Channels)
	p.Marketing.Channels = slices.Clone(p.Marketing.Channels)
	return p
}

// Suspension is an operator's suspension of an account.
type Suspension struct {
	Reason          string    `json:"reason"`
	SuspendTime     time.Time `json:"suspend_time"`
	SuspendedBy     string    `json:"suspended_by"`
	ReinstateTime   time.Time `json:"reinstate_time,omitzero"`
	ReinstateReason string    `json:"reinstate_reason,omitempty"`
}

// Account is a customer's account.
type Account struct {
	// ID is the customer id: the customer's token subject.
	ID          string      `json:"id"`
	Profile     Profile     `json:"profile"`
	Email       Contact     `json:"email"`
	Phone       Contact     `json:"phone"`
	Preferences Preferences `json:"preferences"`
	Status      Status      `json:"status"`
	// SubStatus is free-form; the account service never interprets it.
	SubStatus string `json:"sub_status,omitempty"`
	// Suspension is the one in force or the last one; nil when never suspended.
	Suspension *Suspension `json:"suspension,omitempty"`
	CreateTime time.Time   `json:"create_time"`
	UpdateTime time.Time   `json:"update_time"`
	DeleteTime time.Time   `json:"delete_time,omitzero"`
	// Version increases by one on every change.
	Version int64 `json:"version"`
}

// Contact returns the contact of kind k.
func (a *Account) Contact(k ContactKind) *Contact {
	if k == KindPhone {
		return &a.Phone
	}
	return &a.Email
}

// clone returns a copy of a that shares no slices or pointers with it.
func (a Account) clone() Account {
	a.Preferences = a.Preferences.clone()
	if a.Suspension != nil {
		s := *a.Suspension
		a.Suspension = &s
	}
	return a
}

// Masked returns a for a list: contact addresses masked (Mask).
func (a Account) Masked() Account {
	for _, c := range []*Contact{&a.Email, &a.Phone} {
		if c.Address != "" {
			c.Address, c.Masked = Mask(c.Address), true
		}
	}
	return a
}

// Filter selects accounts in ListAccounts; zero fields select all.
type Filter struct {
	Status Status
	// ID, when set, selects only that account (a customer's own list).
	ID string
}

// Cursor is the position after a ListAccounts page's last account: accounts are ordered
// by creation time, then id.
type Cursor struct {
	CreateTime time.Time `json:"t"`
	ID         string    `json:"id"`
}

// Page is one page of ListAccounts.
type Page struct {
	Accounts      []Account
	NextPageToken string
}

// Code is the stored state of one contact's verification codes: the current code (none
// when Hash is empty) and the issuance window that rate-limits new ones.
type Code struct {
	AccountID string
	Kind      ContactKind
	// ID is the current code's id; empty when there is none.
	ID string
	// Destination is the address the current code was sent to.
	Destination string
	// Hash is the HMAC of the current code; empty when there is none (never issued,
	// voided by a change of the contact).
	Hash       []byte
	IssueTime  time.Time
	ExpireTime time.Time
	// Attempts counts the attempts at the current code, wrong or right.
	Attempts int
	// UsedTime is when the current code verified its contact; zero while unused.
	UsedTime time.Time
	// WindowStart and WindowCount count the codes issued in the current hour.
	WindowStart time.Time
	WindowCount int
}

// Sent is what SendVerificationCode answers: where the code went, never the code.
type Sent struct {
	MaskedDestination string    `json:"masked_destination"`
	ExpireTime        time.Time `json:"expire_time"`
	ResendTime        time.Time `json:"resend_time"`
}

// Outcome is a mutation's result, as an idempotency key stores it for replays.
type Outcome struct {
	Account Account `json:"account"`
	// Sent is set by SendVerificationCode.
	Sent *Sent `json:"sent,omitempty"`
}
