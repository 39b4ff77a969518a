package booking

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/ids"
)

// Role is what kind of caller an identity is.
type Role int

// The caller roles.
const (
	RoleNone Role = iota
	RoleCustomer
	RoleDriver
	RoleOperator
	RoleService
)

// Caller is the authenticated identity a use case acts for.
type Caller struct {
	// Subject is the customer id, operator name or service name.
	Subject string
	// Role is the caller's role.
	Role Role
}

// Privileged reports whether the caller sees and changes every customer's reservations.
func (c Caller) Privileged() bool { return c.Role == RoleOperator || c.Role == RoleService }

// MayAccess reports whether the caller may see or change customerID's reservations.
func (c Caller) MayAccess(customerID string) bool {
	return c.Privileged() || (c.Role == RoleCustomer && c.Subject == customerID)
}

// IdempotencyKey identifies a mutation for deduplication: the same key returns the first
// call's result. An empty RequestID disables deduplication.
type IdempotencyKey struct {
	Actor     string
	Operation string
	RequestID string
}

// Event is a domain event for storage to write to the outbox in the same transaction as
// the change; exactly one of Reservation, Departure and Property is set.
type Event struct {
	Type        string
	Reservation *Reservation
	// Previous is the reservation's main status before the change.
	Previous  Status
	Departure *Departure
	Property  *Property
}

// Key returns the id of the aggregate the event is about.
func (e Event) Key() string {
	switch {
	case e.Reservation != nil:
		return e.Reservation.ID
	case e.Departure != nil:
		return e.Departure.ID
	case e.Property != nil:
		return e.Property.ID
	}
	return ""
}

// Sweep selects what a background sweep processes.
type Sweep int

// The sweeps.
const (
	// SweepExpiry selects HELD reservations whose hold expired.
	SweepExpiry Sweep = iota + 1
	// SweepCompletion selects CONFIRMED or CHECKED_IN reservations whose service ended.
	SweepCompletion
)

// Store persists the domain. Every method that changes state writes the events it is
// given or derives in the same transaction, and honours idempotency keys.
type Store interface {
	// CreateDeparture inserts d (id set) and emits booking.departure.created. A retry with
	// the same key returns the departure the key created.
	CreateDeparture(ctx context.Context, d *Departure, key IdempotencyKey) (*Departure, error)
	// GetDeparture returns a departure with its counters, or ErrNotFound.
	GetDeparture(ctx context.Context, id string) (*Departure, error)
	// ListDepartures returns up to f.Limit departures matching f after f.After.
	ListDepartures(ctx context.Context, f DepartureFilter) ([]*Departure, error)
	// UpdateDeparture locks the departure and its fare classes, lets fn change them, and
	// writes the result (fare class counters are never written from Go). When fn reports a
	// schedule change, every reservation of the departure is updated and emits
	// booking.reservation.modified.
	UpdateDeparture(ctx context.Context, id string, key IdempotencyKey, fn func(d *Departure) (scheduleChanged bool, err error)) (*Departure, error)
	// CancelDeparture locks the departure; fn decides whether it changes (false for an
	// already cancelled one); then every HELD or CONFIRMED reservation of it is cancelled
	// with cancel, in the same transaction. It returns the number cancelled.
	CancelDeparture(ctx context.Context, id string, key IdempotencyKey, fn func(d *Departure) (bool, error), cancel func(r *Reservation) (Change, error)) (*Departure, int, error)
	// SearchDepartures returns scheduled departures matching q.
	SearchDepartures(ctx context.Context, q DepartureSearch) ([]*Departure, error)

	// CreateProperty inserts p and emits booking.property.created.
	CreateProperty(ctx context.Context, p *Property, key IdempotencyKey) (*Property, error)
	// GetProperty returns a property, or ErrNotFound.
	GetProperty(ctx context.Context, id string) (*Property, error)
	// ListProperties returns up to f.Limit properties matching f after f.After.
	ListProperties(ctx context.Context, f PropertyFilter) ([]*Property, error)
	// UpdateProperty locks the property, lets fn change it and writes it; nightly
	// capacities of future nights follow the room types, and may not drop below what is
	// reserved (FAILED_PRECONDITION).
	UpdateProperty(ctx context.Context, id string, key IdempotencyKey, today func(p *Property) Date, fn func(p *Property) error) (*Property, error)
	// CloseProperty is CancelDeparture for properties.
	CloseProperty(ctx context.Context, id string, key IdempotencyKey, fn func(p *Property) (bool, error), cancel func(r *Reservation) (Change, error)) (*Property, int, error)
	// SearchStays returns active properties in q.City with, on each room type, the rooms
	// free on every night of the stay.
	SearchStays(ctx context.Context, q StaySearch) ([]*Property, error)
	// RoomAvailability returns the rooms free on every night of [in, out) per room type of
	// a property.
	RoomAvailability(ctx context.Context, propertyID string, in, out Date) (map[string]int, error)

	// FindReservationByRequest returns the customer's reservation created with requestID,
	// or ErrNotFound.
	FindReservationByRequest(ctx context.Context, customerID, requestID string) (*Reservation, error)
	// Hold inserts r (status HELD) and adds its quantity to the held counters in the
	// database, under the condition that capacity is not exceeded (for a stay, on every
	// night or none), and emits booking.reservation.held, all in one transaction. It fails
	// with ErrInsufficientAvailability when too few units are free, a *PreconditionError
	// when the departure or property no longer takes holds, and ErrAlreadyExists when the
	// customer's request id was used already.
	Hold(ctx context.Context, r *Reservation) (*Reservation, error)
	// GetReservation returns a reservation, or ErrNotFound.
	GetReservation(ctx context.Context, id string) (*Reservation, error)
	// GetReservations returns the reservations with the given ids that exist, in any
	// order, with ONE query.
	GetReservations(ctx context.Context, ids []string) ([]*Reservation, error)
	// ListReservations returns up to f.Limit reservations matching f, newest first.
	ListReservations(ctx context.Context, f ReservationFilter) ([]*Reservation, error)
	// UpdateReservation locks the reservation, lets fn change it, and writes the change:
	// the row, the counters (c.HeldDelta, c.SoldDelta) and the event. A retry with the
	// same key returns the reservation without calling fn.
	UpdateReservation(ctx context.Context, id string, key IdempotencyKey, fn func(r *Reservation) (Change, error)) (*Reservation, error)
	// UpdateReservations runs a batch in one transaction: it claims key with fingerprint
	// as the key's resource, locks the reservations of ids that exist with one statement
	// (FOR UPDATE, in id order), calls apply with them, writes every change apply reports
	// as UpdateReservation does (row, counters, event), and saves the encoded result with
	// the key. A retry with the same key returns the saved result without calling apply;
	// a key first used with another fingerprint fails with ErrInvalid on request_id.
	UpdateReservations(ctx context.Context, ids []string, key IdempotencyKey, fingerprint string, apply BatchApply) ([]byte, error)
	// SweepReservations locks up to limit reservations selected by sweep at now, skipping
	// rows other transactions hold (FOR UPDATE SKIP LOCKED, so replicas share the work),
	// applies fn to each and writes the changes as UpdateReservation does, in one
	// transaction. It returns the number changed.
	SweepReservations(ctx context.Context, sweep Sweep, now time.Time, limit int, fn func(r *Reservation) (Change, error)) (int, error)
}

// Pricer quotes prices; the fare service's client implements it. Errors are
// ErrNotFound-free: a product without a rate card is a *PreconditionError with
// ReasonNotPriced, a fare service that cannot answer ErrUnavailable.
type Pricer interface {
	// QuoteSeats prices quantity seats.
	QuoteSeats(ctx context.Context, q SeatQuoteRequest) (Quote, error)
	// QuoteStay prices quantity rooms for every night of a stay.
	QuoteStay(ctx context.Context, q StayQuoteRequest) (Quote, error)
	// QuoteOffers prices a page of search offers in one call: each result is the quote
	// QuoteSeats or QuoteStay would give for its request, or nil when the product has no
	// rate card. It fails whole when the fare service cannot answer.
	QuoteOffers(ctx context.Context, qs []OfferQuoteRequest) ([]*Quote, error)
}

// OfferQuoteRequest is one offer to price: exactly one of Seat and Stay is set.
type OfferQuoteRequest struct {
	Seat *SeatQuoteRequest
	Stay *StayQuoteRequest
}

// SeatQuoteRequest asks the price of seats, with the load before this request.
type SeatQuoteRequest struct {
	DepartureID, Carrier, Origin, Destination, FareClass string
	Quantity, Used, Capacity                             int
}

// StayQuoteRequest asks the price of a stay, with the fullest night's load.
type StayQuoteRequest struct {
	PropertyID, RoomType     string
	CheckIn, CheckOut        Date
	Quantity, Used, Capacity int
}

// Quote is a price from the fare service.
type Quote struct {
	ID          string
	RateCardID  string
	RateVersion int64
	Unit        Money
	Total       Money
	ValidUntil  time.Time
}

// Options configures a Service.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SearchQuoteTimeout bounds the fare calls of one search; 0 means 2 seconds.
	SearchQuoteTimeout time.Duration
}

// Service is the booking domain's use cases.
type Service struct {
	store   Store
	pricer  Pricer
	now     func() time.Time
	timeout time.Duration
}

// New returns the use cases over store and pricer.
func New(store Store, pricer Pricer, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SearchQuoteTimeout <= 0 {
		o.SearchQuoteTimeout = 2 * time.Second
	}
	return &Service{store: store, pricer: pricer, now: o.Now, timeout: o.SearchQuoteTimeout}
}

// Now returns the service clock's current time.
func (s *Service) Now() time.Time { return s.now() }

// NewID returns a random (version 4) UUID.
func NewID() string { return ids.New() }

// ValidID reports whether s is a UUID in its canonical textual form.
func ValidID(s string) bool { return ids.ValidUUID(s) }

// requireOperator fails unless c is an operator.
func requireOperator(c Caller) error {
	if c.Role == RoleNone {
		return ErrUnauthenticated
	}
	if c.Role != RoleOperator {
		return ErrPermissionDenied
	}
	return nil
}

// requireCaller fails for anonymous callers.
func requireCaller(c Caller) error {
	if c.Role == RoleNone {
		return ErrUnauthenticated
	}
	return nil
}

// validRequestID checks an idempotency key.
func validRequestID(id string) error {
	if !runeLen(id, 0, MaxRequestID) {
		return Invalid("request_id", "must be at most %d characters", MaxRequestID)
	}
	return nil
}
