package billing

import (
	"time"

	"github.com/waybill/waybill/kit/money"
)

// Status is a bill's main status. Its values equal waybill.billing.v1.BillStatus.
type Status int32

// The bill statuses; see Transition for the allowed moves.
const (
	StatusUnspecified Status = 0
	StatusOpen        Status = 1
	StatusFinalized   Status = 2
	StatusPaid        Status = 3
	StatusSettled     Status = 4
	StatusFailed      Status = 5
	StatusCancelled   Status = 6
)

// statusNames are the statuses' storage names.
var statusNames = map[Status]string{
	StatusOpen: "open", StatusFinalized: "finalized", StatusPaid: "paid",
	StatusSettled: "settled", StatusFailed: "failed", StatusCancelled: "cancelled",
}

// String returns the status's storage name ("open", "finalized", …).
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "unspecified"
}

// ParseStatus returns the status with storage name n.
func ParseStatus(n string) (Status, bool) {
	for s, name := range statusNames {
		if name == n {
			return s, true
		}
	}
	return StatusUnspecified, false
}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool { _, ok := statusNames[s]; return ok }

// Kind is a reservation kind. Its values are those of waybill.reservation.v1.Kind; kinds
// added to the contract later are plain numbers here, so billing needs no code for them.
type Kind int32

// MainStatus is a reservation's owner-enforced main status. Its values equal
// waybill.reservation.v1.MainStatus.
type MainStatus int32

// The reservation main statuses.
const (
	MainStatusUnspecified MainStatus = 0
	MainStatusPending     MainStatus = 1
	MainStatusConfirmed   MainStatus = 2
	MainStatusInProgress  MainStatus = 3
	MainStatusCompleted   MainStatus = 4
	MainStatusCancelled   MainStatus = 5
	MainStatusExpired     MainStatus = 6
)

// Billable reports whether a reservation in main status m counts towards a bill's
// totals: everything but CANCELLED and EXPIRED.
func (m MainStatus) Billable() bool {
	return m != MainStatusCancelled && m != MainStatusExpired
}

// Bill is what one customer owes for a set of reservations.
type Bill struct {
	// ID is the bill's UUID.
	ID string
	// CustomerID is the customer who owes the bill.
	CustomerID string
	// Currency is the ISO 4217 currency the bill is priced in.
	Currency string
	// Status is the main status.
	Status Status
	// SubStatus is the free-form fine-grained status.
	SubStatus string
	// Items are the bill's items in the order they were added.
	Items []Item
	// CreateTime is when the bill was opened.
	CreateTime time.Time
	// UpdateTime is when the bill or any of its items last changed.
	UpdateTime time.Time
	// FinalizeTime, PaidTime, SettleTime and CancelTime are zero until the bill gets there.
	FinalizeTime, PaidTime, SettleTime, CancelTime time.Time
	// CancelReason is the reason given to CancelBill.
	CancelReason string
	// Version increases by one on every change of the bill or its items.
	Version int64
	// PaymentID is the payment of the most recent pay saga; empty before.
	PaymentID string
	// Saga is the most recent pay saga; nil before the first PayBill.
	Saga *Saga
}

// Item is one reservation on a bill.
type Item struct {
	// ID is the item's UUID.
	ID string
	// Kind is the reservation's kind.
	Kind Kind
	// Provider is the name of the owning service, from billing's configuration.
	Provider string
	// ReservationID is the reservation's id within its provider.
	ReservationID string
	// Position orders the items of a bill.
	Position int
	// Summary is billing's copy of the reservation's summary; nil when billing holds none.
	Summary *Summary
	// Billed is the amount frozen when the bill was finalized; unset while OPEN.
	Billed money.Money
	// CreateTime is when the item was added.
	CreateTime time.Time
	// Freshness says how current Summary is; computed when the item is read.
	Freshness Freshness
	// Details holds the provider's details when a read asked for them.
	Details *Lookup
}

// UpdateTime is when billing last changed the item: when it was added, or when its
// summary last changed, whichever is later.
func (it Item) UpdateTime() time.Time {
	if it.Summary != nil && it.Summary.ChangeTime.After(it.CreateTime) {
		return it.Summary.ChangeTime
	}
	return it.CreateTime
}

// Summary is what billing keeps of a reservation, fed by its provider's events: what the
// panel always shows.
type Summary struct {
	// Provider and ReservationID identify the reservation.
	Provider, ReservationID string
	// Kind is the reservation's kind, as the provider reports it.
	Kind Kind
	// CustomerID owns the reservation.
	CustomerID string
	// MainStatus is the reservation's main status.
	MainStatus MainStatus
	// SubStatus is the reservation's sub-status.
	SubStatus string
	// Amount is the reservation's current price.
	Amount money.Money
	// Title is the one-line title; empty in an update keeps the title billing has.
	Title string
	// UpdateTime is when the provider last changed the reservation.
	UpdateTime time.Time
	// Version is the provider's version of the reservation; billing ignores updates
	// whose version is not higher than the one it holds.
	Version int64
	// ChangeTime is when billing last changed the summary. Output only.
	ChangeTime time.Time
}

// FreshnessState says whether a summary is known to be current. Its values equal
// waybill.billing.v1.FreshnessState.
type FreshnessState int32

// The freshness states.
const (
	FreshnessUnspecified FreshnessState = 0
	FreshnessFresh       FreshnessState = 1
	FreshnessStale       FreshnessState = 2
	FreshnessUnavailable FreshnessState = 3
)

// Freshness is how current billing's summaries of one provider's items are.
type Freshness struct {
	// State is fresh, stale or unavailable.
	State FreshnessState
	// AsOf is the time up to which billing has applied the provider's event stream.
	AsOf time.Time
}

// View selects how much detail a read returns. Its values equal waybill.type.v1.View.
type View int32

// The views.
const (
	ViewUnspecified View = 0
	ViewBasic       View = 1
	ViewStandard    View = 2
	ViewFull        View = 3
)

// LookupStatus is the outcome of fetching one reservation's details.
type LookupStatus int32

// The lookup outcomes. Their values equal waybill.billing.v1.DetailsStatus.
const (
	LookupUnspecified LookupStatus = 0
	LookupFound       LookupStatus = 1
	LookupUnavailable LookupStatus = 2
	LookupNotFound    LookupStatus = 3
	LookupDenied      LookupStatus = 4
)

// Lookup is a provider's answer for one reservation.
type Lookup struct {
	// ID is the requested reservation id.
	ID string
	// Status is the outcome.
	Status LookupStatus
	// Error says why details are unavailable, for LookupUnavailable.
	Error string
	// Summary is the common envelope's summary fields, for LookupFound in ViewBasic
	// (the other views leave the details encoded in Raw).
	Summary Summary
	// Raw is the provider's details (an encoded waybill.reservation.v1.ReservationDetails)
	// as the transport received them, for LookupFound: passed back to the transport
	// untouched, never decoded for the panel's views.
	Raw []byte
	// Version is the provider's version of the reservation that Raw reflects (its
	// details' version field), for LookupFound; 0 when the provider did not say. Billing
	// keeps details by it (detailscache.go).
	Version int64
}

// RefreshRequest is a reservation whose summary billing must fetch again from its
// provider, because an event about it could not be read.
type RefreshRequest struct {
	// ReservationID is the reservation.
	ReservationID string
	// RequestedAt identifies the request, so that a newer one is not cleared by mistake.
	RequestedAt time.Time
}
