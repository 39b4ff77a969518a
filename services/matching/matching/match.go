package matching

import (
	"slices"
	"time"
)

// MatchStatus is a match's owner-enforced status. The numbers are the contract's
// (waybill.matching.v1.MatchStatus) and are what storage keeps.
type MatchStatus int16

// The match statuses; see MatchStatus.CanBecome for the transitions.
const (
	// MatchSearching: looking for eligible drivers, before the first offer or between
	// attempts.
	MatchSearching MatchStatus = 1
	// MatchOffered: at least one offer of the current attempt is pending.
	MatchOffered MatchStatus = 2
	// MatchAssigned: a driver accepted; final for the search.
	MatchAssigned MatchStatus = 3
	// MatchFailed: the search ended without a driver. Terminal.
	MatchFailed MatchStatus = 4
	// MatchCancelled: cancelled by CancelMatch. Terminal.
	MatchCancelled MatchStatus = 5
)

// String returns the status's name, for messages.
func (s MatchStatus) String() string {
	switch s {
	case MatchSearching:
		return "SEARCHING"
	case MatchOffered:
		return "OFFERED"
	case MatchAssigned:
		return "ASSIGNED"
	case MatchFailed:
		return "FAILED"
	case MatchCancelled:
		return "CANCELLED"
	}
	return "UNSPECIFIED"
}

// Active reports whether a match in status s holds its trip: SEARCHING, OFFERED and
// ASSIGNED do, so a trip has at most one such match.
func (s MatchStatus) Active() bool { return s >= MatchSearching && s <= MatchAssigned }

// Searching reports whether the search of a match in status s still runs.
func (s MatchStatus) Searching() bool { return s == MatchSearching || s == MatchOffered }

// CanBecome reports whether a match in status s may move to next, as the contract's
// table says: SEARCHING ⇄ OFFERED, OFFERED → ASSIGNED, SEARCHING or OFFERED → FAILED,
// SEARCHING, OFFERED or ASSIGNED → CANCELLED.
func (s MatchStatus) CanBecome(next MatchStatus) bool {
	switch s {
	case MatchSearching:
		return next == MatchOffered || next == MatchFailed || next == MatchCancelled
	case MatchOffered:
		return next == MatchSearching || next == MatchAssigned || next == MatchFailed || next == MatchCancelled
	case MatchAssigned:
		return next == MatchCancelled
	}
	return false
}

// FailureReason says why a match failed (waybill.matching.v1.MatchFailureReason).
type FailureReason int16

// The failure reasons.
const (
	// FailureNone: the match did not fail.
	FailureNone FailureReason = 0
	// FailureNoDrivers: no attempt found an eligible driver; no offer was ever made.
	FailureNoDrivers FailureReason = 1
	// FailureAttemptsExhausted: offers were made, none was accepted, and the last attempt
	// ended.
	FailureAttemptsExhausted FailureReason = 2
)

// OfferStatus is one offer's status (waybill.matching.v1.OfferStatus).
type OfferStatus int16

// The offer statuses: PENDING, then one of the terminal others.
const (
	// OfferPending: waiting for the driver's answer until the expire time.
	OfferPending OfferStatus = 1
	// OfferAccepted: the driver accepted in time.
	OfferAccepted OfferStatus = 2
	// OfferDeclined: the driver declined.
	OfferDeclined OfferStatus = 3
	// OfferExpired: the expire time passed without an answer.
	OfferExpired OfferStatus = 4
	// OfferWithdrawn: matching took the offer back (another driver accepted, or the match
	// was cancelled).
	OfferWithdrawn OfferStatus = 5
)

// String returns the status's name, for messages.
func (s OfferStatus) String() string {
	switch s {
	case OfferPending:
		return "PENDING"
	case OfferAccepted:
		return "ACCEPTED"
	case OfferDeclined:
		return "DECLINED"
	case OfferExpired:
		return "EXPIRED"
	case OfferWithdrawn:
		return "WITHDRAWN"
	}
	return "UNSPECIFIED"
}

// Match is the search for, and reservation of, one driver for one trip.
type Match struct {
	ID      string
	TripID  string
	Pickup  Point
	Product string
	Status  MatchStatus
	// SubStatus is free-form; matching never interprets it.
	SubStatus string
	// Offers are the offers made, oldest first; filled only where asked for.
	Offers []Offer `json:",omitempty"`
	// DriverID is the assigned driver, set once ASSIGNED.
	DriverID     string
	AttemptCount int32
	MaxAttempts  int32
	FanOut       int32
	OfferTimeout time.Duration
	// InitialRadius is the first attempt's radius; attempt n searches within n × it,
	// capped at MaxRadiusMeters.
	InitialRadius int32
	// SearchRadius is the current attempt's radius.
	SearchRadius int32
	// RequestedDriverID is the only driver a manual dispatch offers the ride to.
	RequestedDriverID string
	FailureReason     FailureReason
	CancelReason      string
	AssignTime        time.Time
	// ReleaseTime is when the assigned driver was released; zero while they are on the
	// ride (or the match was never assigned). Storage's guard against double assignment
	// counts the ASSIGNED matches without it.
	ReleaseTime time.Time
	// DueTime is when the dispatcher must next look at the match: the next attempt of a
	// SEARCHING match, the expiry of an OFFERED match's offers; zero when it is done.
	DueTime    time.Time
	CreateTime time.Time
	UpdateTime time.Time
	// Version increases by one on every change.
	Version int64
}

// clone returns a copy of m that shares no slices with it.
func (m Match) clone() Match {
	m.Offers = slices.Clone(m.Offers)
	return m
}

// touch bumps m's version and update time.
func (m *Match) touch(now time.Time) {
	m.Version++
	m.UpdateTime = now
}

// Offer is a proposal of one match's ride to one driver.
type Offer struct {
	ID       string
	MatchID  string
	TripID   string
	DriverID string
	Pickup   Point
	Product  string
	Status   OfferStatus
	// Attempt is the match's attempt that made the offer, from 1.
	Attempt        int32
	DistanceMeters int32
	ETASeconds     int32
	ExpireTime     time.Time
	// ResolveTime is when the offer left PENDING; zero while PENDING.
	ResolveTime   time.Time
	DeclineReason string
	CreateTime    time.Time
	UpdateTime    time.Time
	Version       int64
}

// resolve moves a PENDING offer to status at now.
func (o *Offer) resolve(status OfferStatus, now time.Time) {
	o.Status, o.ResolveTime, o.UpdateTime = status, now, now
	o.Version++
}

// Accepted is what AcceptOffer returns: the accepted offer and its match, ASSIGNED.
type Accepted struct {
	Offer Offer
	Match Match
}
