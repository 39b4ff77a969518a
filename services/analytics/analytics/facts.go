package analytics

import (
	"time"

	"github.com/waybill/waybill/kit/money"
)

// UnitKind is what a rollup row is about: a property (stays) or a departure (seats).
type UnitKind string

// The unit kinds.
const (
	UnitProperty  UnitKind = "property"
	UnitDeparture UnitKind = "departure"
)

// ReservationStage is where a reservation stands, as far as the KPIs care.
type ReservationStage int

// The stages. Only confirmed reservations are booked; only booked ones can be cancelled
// in the KPIs' sense.
const (
	// StageOther is a hold, an expiry or any state that does not change the KPIs.
	StageOther ReservationStage = iota
	// StageBooked is CONFIRMED, CHECKED_IN or COMPLETED.
	StageBooked
	// StageCancelled is CANCELLED.
	StageCancelled
)

// Reservation is what a booking reservation event says about the KPIs.
type Reservation struct {
	// ID is the reservation's id.
	ID string
	// Unit is the property (stay) or the departure (seat) it is for.
	Unit UnitKind
	// UnitID is the property's or departure's id.
	UnitID string
	// Route is "ORIGIN-DESTINATION" for seats; empty for stays.
	Route string
	// City is the property's city, or the departure's origin.
	City string
	// Stage is the reservation's stage after the event.
	Stage ReservationStage
	// Quantity is the rooms or seats.
	Quantity int64
	// Nights is a stay's number of nights; 0 for seats.
	Nights int64
	// FirstNight is a stay's check-in date (UTC midnight); zero for seats.
	FirstNight time.Time
	// ServiceStart is the departure time, or the check-in date at 00:00 UTC.
	ServiceStart time.Time
	// Price is the reservation's price.
	Price money.Money
	// Refund is the refundable amount of a cancellation (in Price's currency).
	Refund int64
	// At is when the event's change was committed.
	At time.Time
}

// Departure is what a booking departure event says: capacity on a day and its route.
type Departure struct {
	// ID is the departure's id.
	ID string
	// Route is "ORIGIN-DESTINATION".
	Route string
	// City is the origin.
	City string
	// Day is the departure's UTC day.
	Day time.Time
	// Capacity is the seats of all its fare classes.
	Capacity int64
	// Cancelled reports a cancelled departure, whose capacity no longer counts.
	Cancelled bool
}

// Property is what a booking property event says: nightly capacity and where.
type Property struct {
	// ID is the property's id.
	ID string
	// City is its city.
	City string
	// Capacity is the rooms per night of all its room types.
	Capacity int64
	// OpenedOn is the UTC day it was created.
	OpenedOn time.Time
	// ClosedOn is the UTC day it closed; zero while open.
	ClosedOn time.Time
}

// PaymentOp is the kind of payment event that matters to the KPIs.
type PaymentOp int

// The payment operations counted.
const (
	PaymentOther PaymentOp = iota
	PaymentAuthorized
	PaymentFailed
	PaymentCaptured
	PaymentRefunded
)

// Payment is what a payment event says.
type Payment struct {
	// Op is what happened.
	Op PaymentOp
	// Amount is the operation's amount (or the payment's, for a failure without one).
	Amount money.Money
	// At is when it was committed.
	At time.Time
}

// Bill is what a billing event says: whether the bill is owed, and how much.
type Bill struct {
	// ID is the bill's id.
	ID string
	// Outstanding reports a bill finalized and neither paid nor cancelled (FINALIZED or
	// FAILED).
	Outstanding bool
	// Totals are the bill's totals, one per currency.
	Totals []money.Money
	// At is when it was committed.
	At time.Time
}

// Fare is a ride's calculated fare.
type Fare struct {
	// TripID is the trip's id.
	TripID string
	// City is where the ride was.
	City string
	// Total is the fare.
	Total money.Money
	// Surged reports a surge multiplier above 1.
	Surged bool
	// At is when it was committed.
	At time.Time
}

// TripStep is what a trip event says happened.
type TripStep int

// The trip steps counted.
const (
	TripOther TripStep = iota
	TripRequested
	TripAssigned
	TripCompleted
	TripCancelled
)

// Trip is what a trip event says.
type Trip struct {
	// ID is the trip's id.
	ID string
	// City is where the ride is.
	City string
	// Step is what happened.
	Step TripStep
	// WaitForDriver is the time from the request to the driver's assignment (TripAssigned).
	WaitForDriver time.Duration
	// At is when it was committed.
	At time.Time
}

// Day returns t's UTC day (midnight).
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
