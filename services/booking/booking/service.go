package booking

import (
	"context"
	"encoding/json"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

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
// given or derives in the same transaction. Methods taking an idempotency.Key claim it in
// that transaction (kit/idempotency): a retry with the key changes nothing and answers as
// the first call did, the same request id with other parameters fails with
// INVALID_ARGUMENT (REQUEST_ID_REUSED), and a retry while the first call runs with ABORTED
// (REQUEST_IN_PROGRESS). A key without a request id claims nothing.
type Store interface {
	// CreateDeparture inserts d (id set) and emits booking.departure.created. A retry
	// with the same key returns the departure the key created.
	CreateDeparture(ctx context.Context, d *Departure, key idempotency.Key) (*Departure, error)
	// GetDeparture returns a departure with its counters, or a NotFound error.
	GetDeparture(ctx context.Context, id string) (*Departure, error)
	// ListDepartures returns up to f.Limit departures matching f after f.After.
	ListDepartures(ctx context.Context, f DepartureFilter) ([]*Departure, error)
	// UpdateDeparture locks the departure and its fare classes, lets fn change them, and
	// writes the result (fare class counters are never written from Go). When fn reports a
	// schedule change, every reservation of the departure is updated and emits
	// booking.reservation.modified. A retry with the same key returns the departure.
	UpdateDeparture(ctx context.Context, id string, key idempotency.Key, fn func(d *Departure) (scheduleChanged bool, err error)) (*Departure, error)
	// CancelDeparture locks the departure; fn decides whether it changes (false for an
	// already cancelled one); then every HELD or CONFIRMED reservation of it is cancelled
	// with cancel, in the same transaction. It returns the number cancelled; a retry with
	// the same key returns the departure and the first call's number.
	CancelDeparture(ctx context.Context, id string, key idempotency.Key, fn func(d *Departure) (bool, error), cancel func(r *Reservation) (Change, error)) (*Departure, int, error)
	// SearchDepartures returns scheduled departures matching q.
	SearchDepartures(ctx context.Context, q DepartureSearch) ([]*Departure, error)

	// CreateProperty inserts p and emits booking.property.created.
	CreateProperty(ctx context.Context, p *Property, key idempotency.Key) (*Property, error)
	// GetProperty returns a property, or a NotFound error.
	GetProperty(ctx context.Context, id string) (*Property, error)
	// ListProperties returns up to f.Limit properties matching f after f.After.
	ListProperties(ctx context.Context, f PropertyFilter) ([]*Property, error)
	// UpdateProperty locks the property, lets fn change it and writes it; nightly
	// capacities of future nights follow the room types, and may not drop below what is
	// reserved (FAILED_PRECONDITION).
	UpdateProperty(ctx context.Context, id string, key idempotency.Key, today func(p *Property) Date, fn func(p *Property) error) (*Property, error)
	// CloseProperty is CancelDeparture for properties.
	CloseProperty(ctx context.Context, id string, key idempotency.Key, fn func(p *Property) (bool, error), cancel func(r *Reservation) (Change, error)) (*Property, int, error)
	// SearchStays returns active properties in q.City with, on each room type, the rooms
	// free on every night of the stay.
	SearchStays(ctx context.Context, q StaySearch) ([]*Property, error)
	// RoomAvailability returns the rooms free on every night of [in, out) per room type of
	// a property.
	RoomAvailability(ctx context.Context, propertyID string, in, out Date) (map[string]int, error)

	// Hold inserts r (status HELD) and adds its quantity to the held counters in the
	// database, under the condition that capacity is not exceeded (for a stay, on every
	// night or none), and emits booking.reservation.held, all in one transaction with the
	// claim of key. It fails with ErrInsufficientAvailability when too few units are free,
	// and FAILED_PRECONDITION (NOT_ON_SALE) when the departure or property no longer takes
	// holds. A retry with the same key holds nothing and returns the first reservation.
	Hold(ctx context.Context, r *Reservation, key idempotency.Key) (*Reservation, error)
	// FindHold returns the reservation a committed hold with key made, or nil when none
	// did (yet); a key used with other parameters is REQUEST_ID_REUSED.
	FindHold(ctx context.Context, key idempotency.Key) (*Reservation, error)
	// GetReservation returns a reservation, or a NotFound error.
	GetReservation(ctx context.Context, id string) (*Reservation, error)
	// GetReservations returns the reservations with the given ids that exist, in any
	// order, with ONE query.
	GetReservations(ctx context.Context, ids []string) ([]*Reservation, error)
	// ListReservations returns up to f.Limit reservations matching f, newest first.
	ListReservations(ctx context.Context, f ReservationFilter) ([]*Reservation, error)
	// UpdateReservation locks the reservation, lets fn change it, and writes the change:
	// the row, the counters (c.HeldDelta, c.SoldDelta) and the event. A retry with the
	// same key returns the reservation as it is now without calling fn.
	UpdateReservation(ctx context.Context, id string, key idempotency.Key, fn func(r *Reservation) (Change, error)) (*Reservation, error)
	// UpdateReservations runs a batch in one transaction: it claims key, locks the
	// reservations of ids that exist with one statement (FOR UPDATE, in id order), calls
	// apply with them, writes every change apply reports as UpdateReservation does (row,
	// counters, event), and stores the encoded result with the key. A retry with the same
	// key returns the stored result without calling apply.
	UpdateReservations(ctx context.Context, ids []string, key idempotency.Key, apply BatchApply) ([]byte, error)
	// SweepReservations locks up to limit reservations selected by sweep at now, skipping
	// rows other transactions hold (FOR UPDATE SKIP LOCKED, so replicas share the work),
	// applies fn to each and writes the changes as UpdateReservation does, in one
	// transaction. It returns the number changed.
	SweepReservations(ctx context.Context, sweep Sweep, now time.Time, limit int, fn func(r *Reservation) (Change, error)) (int, error)
}

// Pricer quotes prices; the fare service's client implements it. A product without a
// rate card is FAILED_PRECONDITION with ReasonNotPriced, a fare service that cannot
// answer UNAVAILABLE with ReasonFareUnavailable; nothing it returns is NOT_FOUND or
// INVALID_ARGUMENT, which would blame booking's caller for fare's answer.
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
	Unit        money.Money
	Total       money.Money
	ValidUntil  time.Time
}

// Options configures a Service.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SearchQuoteTimeout bounds the fare calls of one search; 0 means 2 seconds.
	SearchQuoteTimeout time.Duration
	// Gate refuses suspended customers' holds; nil admits everyone.
	Gate CustomerGate
}

// Service is the booking domain's use cases.
type Service struct {
	store   Store
	pricer  Pricer
	now     func() time.Time
	timeout time.Duration
	gate    CustomerGate
}

// New returns the use cases over store and pricer.
func New(store Store, pricer Pricer, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SearchQuoteTimeout <= 0 {
		o.SearchQuoteTimeout = 2 * time.Second
	}
	return &Service{store: store, pricer: pricer, now: o.Now, timeout: o.SearchQuoteTimeout, gate: o.Gate}
}

// Now returns the service clock's current time.
func (s *Service) Now() time.Time { return s.now() }

// NewID returns a random (version 4) UUID.
func NewID() string { return ids.New() }

// ValidID reports whether s is a UUID in its canonical textual form.
func ValidID(s string) bool { return ids.ValidUUID(s) }

// requireOperator fails unless c is an operator.
func requireOperator(c caller.Caller) error {
	if err := requireCaller(c); err != nil {
		return err
	}
	if c.Role != caller.Operator {
		return errs.Denied("", "only operators may make this call")
	}
	return nil
}

// requireCaller fails for anonymous callers.
func requireCaller(c caller.Caller) error {
	if c.Role == caller.Anonymous {
		return errs.NoIdentity("this call needs a bearer token")
	}
	return nil
}

// requestKey is the idempotency key of a retriable call of c: the method, c's subject,
// the request id, and a digest of the call's parameters (in a fixed order), so that the
// request id reused with other parameters is refused. Without a request id it claims
// nothing, and nothing is digested.
func requestKey(c caller.Caller, method, requestID string, params ...string) idempotency.Key {
	k := idempotency.Key{Method: method, Subject: c.Subject, RequestID: requestID}
	if requestID != "" {
		k.Hash = idempotency.Fingerprint(params...)
	}
	return k
}

// digest renders a parameter struct for requestKey: its JSON, which is deterministic for
// the domain's plain structs.
func digest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings, numbers and times always encode
	}
	return string(b)
}

// errVersion is the error of a change that expected another version of the resource.
func errVersion(what, id string, have, want int64) error {
	return errs.Abort(ReasonVersionMismatch, "%s %s is at version %d, not %d; read it again and retry", what, id, have, want)
}
