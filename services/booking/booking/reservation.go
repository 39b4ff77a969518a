package booking

import (
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// Kind is the kind of a reserved item.
type Kind int

// The reservation kinds, numbered as waybill.reservation.v1.Kind.
const (
	KindUnspecified Kind = iota
	KindFlight
	KindTrain
	KindBus
	KindStay
)

// Status is the main status of a reservation.
type Status int

// The reservation statuses.
const (
	StatusUnspecified Status = iota
	StatusHeld
	StatusConfirmed
	StatusCheckedIn
	StatusCompleted
	StatusCancelled
	StatusExpired
)

// String returns the status's lower-case name, as used in timelines.
func (s Status) String() string {
	switch s {
	case StatusHeld:
		return "held"
	case StatusConfirmed:
		return "confirmed"
	case StatusCheckedIn:
		return "checked_in"
	case StatusCompleted:
		return "completed"
	case StatusCancelled:
		return "cancelled"
	case StatusExpired:
		return "expired"
	}
	return "unspecified"
}

// Valid reports whether s is a defined status.
func (s Status) Valid() bool { return s >= StatusHeld && s <= StatusExpired }

// Final reports whether no transition leaves s.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusCancelled || s == StatusExpired
}

// transitions is the main status state machine: the statuses each status may move to.
var transitions = map[Status][]Status{
	StatusHeld:      {StatusConfirmed, StatusCancelled, StatusExpired},
	StatusConfirmed: {StatusCheckedIn, StatusCancelled, StatusCompleted},
	StatusCheckedIn: {StatusCompleted},
}

// CanTransition reports whether a reservation may move from one main status to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// CounterDelta returns how a transition changes the held and sold counters of the
// reservation's inventory, for a reservation of quantity units: a confirmation turns held
// units into sold ones, a cancellation or expiry releases them.
func CounterDelta(from, to Status, quantity int) (held, sold int) {
	switch {
	case from == StatusHeld && to == StatusConfirmed:
		return -quantity, quantity
	case from == StatusHeld && (to == StatusCancelled || to == StatusExpired):
		return -quantity, 0
	case (from == StatusConfirmed || from == StatusCheckedIn) && to == StatusCancelled:
		return 0, -quantity
	}
	return 0, 0
}

// Event types of reservations, as booking's events.proto lists them.
const (
	EventHeld       = "booking.reservation.held"
	EventConfirmed  = "booking.reservation.confirmed"
	EventCheckedIn  = "booking.reservation.checked_in"
	EventCheckedOut = "booking.reservation.checked_out"
	EventCompleted  = "booking.reservation.completed"
	EventCancelled  = "booking.reservation.cancelled"
	EventExpired    = "booking.reservation.expired"
	EventModified   = "booking.reservation.modified"

	EventDepartureCreated   = "booking.departure.created"
	EventDepartureUpdated   = "booking.departure.updated"
	EventDepartureCancelled = "booking.departure.cancelled"
	EventPropertyCreated    = "booking.property.created"
	EventPropertyUpdated    = "booking.property.updated"
	EventPropertyClosed     = "booking.property.closed"
)

// EventTypes lists every event type booking emits, for the event stream's type filter.
var EventTypes = []string{
	EventHeld, EventConfirmed, EventCheckedIn, EventCheckedOut, EventCompleted, EventCancelled,
	EventExpired, EventModified, EventDepartureCreated, EventDepartureUpdated,
	EventDepartureCancelled, EventPropertyCreated, EventPropertyUpdated, EventPropertyClosed,
}

// ActorSystem is the actor of automatic transitions.
const ActorSystem = "system"

// Sub-statuses the server sets on automatic transitions.
const (
	SubStatusDepartureCancelled = "departure_cancelled"
	SubStatusPropertyClosed     = "property_closed"
	SubStatusNoShow             = "no_show"
)

// Reservation is one customer's reservation of seats or room-nights.
type Reservation struct {
	ID             string
	CustomerID     string
	Kind           Kind
	Seat           *SeatItem
	Stay           *StayItem
	Quantity       int
	Travelers      []string
	Price          money.Money
	RateCardID     string
	RateVersion    int64
	QuoteID        string
	HoldExpireTime time.Time
	Status         Status
	SubStatus      string
	Policy         Policy
	Cancellation   *Cancellation
	ServiceStart   time.Time
	ServiceEnd     time.Time
	History        []StatusChange
	CreateTime     time.Time
	UpdateTime     time.Time
	Version        int64
}

// SeatItem is seats in one fare class of a departure, with a copy of the departure's fields.
type SeatItem struct {
	DepartureID   string
	FareClass     string
	Mode          Mode
	Carrier       string
	Number        string
	Origin        string
	Destination   string
	DepartureTime time.Time
	ArrivalTime   time.Time
}

// StayItem is rooms of one room type at a property for a range of nights.
type StayItem struct {
	PropertyID   string
	RoomType     string
	CheckIn      Date
	CheckOut     Date
	GuestCount   int
	PropertyName string
	City         string
}

// Nights returns the number of nights of the stay.
func (s *StayItem) Nights() int { return s.CheckIn.DaysUntil(s.CheckOut) }

// Cancellation records how a reservation was cancelled.
type Cancellation struct {
	Time       time.Time
	Reason     string
	Actor      string
	Refundable money.Money
}

// Fee returns the part of price kept.
func (c *Cancellation) Fee(price money.Money) money.Money {
	return money.Money{Amount: price.Amount - c.Refundable.Amount, Currency: price.Currency}
}

// StatusChange is one transition in a reservation's history.
type StatusChange struct {
	Status    Status    `json:"status"`
	SubStatus string    `json:"sub_status,omitempty"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
}

// Change is what a domain operation did to a reservation, for storage to persist: the
// counters to move and the event to emit.
type Change struct {
	// None means nothing changed (an idempotent repeat); nothing is written.
	None bool
	// Event is the event type to emit.
	Event string
	// Previous is the main status before the change.
	Previous Status
	// HeldDelta and SoldDelta move the inventory counters (for every night of a stay).
	HeldDelta, SoldDelta int
}

// transition moves r to status to at now, recording it in the history, and returns the
// change; it fails with FAILED_PRECONDITION when the state machine forbids it.
func (r *Reservation) transition(to Status, now time.Time, actor, reason, event string) (Change, error) {
	if !CanTransition(r.Status, to) {
		return Change{}, errs.Precondition(ReasonInvalidTransition, "a %s reservation cannot become %s", r.Status, to)
	}
	from := r.Status
	held, sold := CounterDelta(from, to, r.Quantity)
	r.Status = to
	if to != StatusHeld {
		r.HoldExpireTime = time.Time{}
	}
	r.History = append(r.History, StatusChange{Status: to, SubStatus: r.SubStatus, Time: now, Actor: actor, Reason: reason})
	r.UpdateTime = now
	return Change{Event: event, Previous: from, HeldDelta: held, SoldDelta: sold}, nil
}

// Confirm moves a HELD reservation to CONFIRMED before its hold expires. Confirming a
// CONFIRMED reservation again changes nothing.
func (r *Reservation) Confirm(now time.Time, actor string) (Change, error) {
	if r.Status == StatusConfirmed {
		return Change{None: true}, nil
	}
	if r.Status == StatusHeld && !now.Before(r.HoldExpireTime) {
		return Change{}, errs.Precondition(ReasonHoldExpired, "the hold expired at %s", r.HoldExpireTime.UTC().Format(time.RFC3339))
	}
	return r.transition(StatusConfirmed, now, actor, "", EventConfirmed)
}

// Expire moves a HELD reservation whose hold has lapsed at now to EXPIRED.
func (r *Reservation) Expire(now time.Time) (Change, error) {
	if r.Status == StatusHeld && now.Before(r.HoldExpireTime) {
		return Change{}, errs.Precondition(ReasonInvalidTransition, "the hold has not expired yet")
	}
	return r.transition(StatusExpired, now, ActorSystem, "hold expired", EventExpired)
}

// CancelQuote is what cancelling a reservation now would refund.
type CancelQuote struct {
	Refundable money.Money
	Fee        money.Money
	// Rule is the policy rule applied; nil for a free cancellation or when none applies.
	Rule *Rule
	// ValidUntil is when the answer changes; zero when it does not before the start.
	ValidUntil time.Time
}

// QuoteCancel tells what cancelling r at now would refund. fullRefund is true for
// cancellations on the operator's side (an operator, a cancelled departure, a closed
// property), which refund the whole price. It fails with FAILED_PRECONDITION when r
// cannot be cancelled now.
func (r *Reservation) QuoteCancel(now time.Time, fullRefund bool) (CancelQuote, error) {
	if !CanTransition(r.Status, StatusCancelled) {
		return CancelQuote{}, errs.Precondition(ReasonInvalidTransition, "a %s reservation cannot be cancelled", r.Status)
	}
	if r.Status == StatusHeld || fullRefund {
		return CancelQuote{Refundable: r.Price, Fee: money.Money{Currency: r.Price.Currency}}, nil
	}
	if !now.Before(r.ServiceStart) {
		return CancelQuote{}, errs.Precondition(ReasonOutsideWindow, "the reservation started at %s", r.ServiceStart.UTC().Format(time.RFC3339))
	}
	refund, rule, until := r.Policy.Refund(r.Price, r.ServiceStart, now)
	return CancelQuote{Refundable: refund, Fee: money.Money{Amount: r.Price.Amount - refund.Amount, Currency: r.Price.Currency}, Rule: rule, ValidUntil: until}, nil
}

// Cancel moves a HELD or CONFIRMED reservation to CANCELLED with the refund QuoteCancel
// gives.
func (r *Reservation) Cancel(now time.Time, actor, reason string, fullRefund bool) (Change, error) {
	q, err := r.QuoteCancel(now, fullRefund)
	if err != nil {
		return Change{}, err
	}
	ch, err := r.transition(StatusCancelled, now, actor, reason, EventCancelled)
	if err != nil {
		return Change{}, err
	}
	r.Cancellation = &Cancellation{Time: now, Reason: reason, Actor: actor, Refundable: q.Refundable}
	return ch, nil
}

// CheckInWindow returns when r may be checked in: for seats from 48 hours before the
// departure until it leaves, for stays from the check-in hour on the check-in date until
// the end of the stay.
func (r *Reservation) CheckInWindow() (from, until time.Time) {
	if r.Stay != nil {
		return r.ServiceStart, r.ServiceEnd
	}
	return r.ServiceStart.Add(-48 * time.Hour), r.ServiceStart
}

// CheckIn moves a CONFIRMED reservation to CHECKED_IN inside its check-in window.
// Checking in a CHECKED_IN reservation again changes nothing.
func (r *Reservation) CheckIn(now time.Time, actor string) (Change, error) {
	if r.Status == StatusCheckedIn {
		return Change{None: true}, nil
	}
	if r.Status == StatusConfirmed {
		from, until := r.CheckInWindow()
		if now.Before(from) || !now.Before(until) {
			return Change{}, errs.Precondition(ReasonOutsideWindow, "check-in is open from %s until %s",
				from.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
		}
	}
	return r.transition(StatusCheckedIn, now, actor, "", EventCheckedIn)
}

// CheckOut moves a CHECKED_IN stay to COMPLETED. Checking out a COMPLETED stay again
// changes nothing; seats cannot be checked out.
func (r *Reservation) CheckOut(now time.Time, actor string) (Change, error) {
	if r.Stay == nil {
		return Change{}, errs.Precondition(ReasonInvalidTransition, "seat reservations complete at arrival and cannot be checked out")
	}
	if r.Status == StatusCompleted {
		return Change{None: true}, nil
	}
	if r.Status != StatusCheckedIn {
		return Change{}, errs.Precondition(ReasonInvalidTransition, "a %s stay cannot be checked out", r.Status)
	}
	return r.transition(StatusCompleted, now, actor, "", EventCheckedOut)
}

// Complete moves a reservation whose service ended at now to COMPLETED: seats at arrival
// (CONFIRMED or CHECKED_IN), stays at the check-out hour (CHECKED_IN checks out; CONFIRMED
// completes as a no-show).
func (r *Reservation) Complete(now time.Time) (Change, error) {
	if now.Before(r.ServiceEnd) {
		return Change{}, errs.Precondition(ReasonOutsideWindow, "the reservation has not ended yet")
	}
	event := EventCompleted
	if r.Stay != nil {
		switch r.Status {
		case StatusCheckedIn:
			event = EventCheckedOut
		case StatusConfirmed:
			r.SubStatus = SubStatusNoShow
		}
	}
	return r.transition(StatusCompleted, now, ActorSystem, "", event)
}

// SetSubStatus sets the free-form sub-status in any main status.
func (r *Reservation) SetSubStatus(s string, now time.Time) (Change, error) {
	if !runeLen(s, 0, MaxSubStatus) {
		return Change{}, errs.Invalid("sub_status", "must be at most %d characters", MaxSubStatus)
	}
	if s == r.SubStatus {
		return Change{None: true}, nil
	}
	r.SubStatus = s
	r.UpdateTime = now
	return Change{Event: EventModified, Previous: r.Status}, nil
}

// SetTravelers replaces the travellers of a HELD or CONFIRMED reservation.
func (r *Reservation) SetTravelers(names []string, now time.Time) (Change, error) {
	if err := validateTravelers(names, r.Quantity, r.Stay, "reservation.travelers"); err != nil {
		return Change{}, err
	}
	if r.Status != StatusHeld && r.Status != StatusConfirmed {
		return Change{}, errs.Precondition(ReasonInvalidTransition, "travellers of a %s reservation cannot change", r.Status)
	}
	r.Travelers = names
	r.UpdateTime = now
	return Change{Event: EventModified, Previous: r.Status}, nil
}

func validateTravelers(names []string, quantity int, stay *StayItem, field string) error {
	var v errs.Violations
	if stay == nil {
		v.Check(len(names) == quantity, field, "must hold exactly one passenger per seat (%d)", quantity)
	} else {
		v.Check(len(names) >= 1 && len(names) <= max(1, stay.GuestCount), field, "must hold 1 to guest_count (%d) guests", stay.GuestCount)
	}
	for i, n := range names {
		v.Check(runeLen(n, 1, 200), field+"["+itoa(i)+"].full_name", "must be 1 to 200 characters")
	}
	return v.Err()
}
