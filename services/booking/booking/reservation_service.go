package booking

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

// Hold durations.
const (
	DefaultHoldDuration = 15 * time.Minute
	MinHoldDuration     = time.Minute
	MaxHoldDuration     = 60 * time.Minute
	MaxQuantity         = 9
	// MaxDetailsBatch is the most ids GetReservationDetails answers in one call.
	MaxDetailsBatch = 500
	// ProviderName is the name GetReservationDetails answers to.
	ProviderName = "booking"
)

// Methods named in idempotency keys of reservation changes.
const (
	opCreateReservation = "CreateReservation"
	opUpdateReservation = "UpdateReservation"
	opConfirm           = "ConfirmReservation"
	opCancel            = "CancelReservation"
	opCheckIn           = "CheckInReservation"
	opCheckOut          = "CheckOutReservation"
	opSetSubStatus      = "SetReservationSubStatus"
)

// HoldRequest is a request to hold seats or rooms.
type HoldRequest struct {
	// CustomerID owns the reservation; empty means the caller for customers.
	CustomerID string
	// Seat or Stay, exactly one: for seats DepartureID and FareClass, for stays
	// PropertyID, RoomType, CheckIn, CheckOut and GuestCount are read.
	Seat *SeatItem
	Stay *StayItem
	// Quantity is the number of seats or rooms, 1 to 9.
	Quantity int
	// Travelers are the passengers or guests.
	Travelers []string
	// HoldDuration is how long the hold lasts; 0 means DefaultHoldDuration.
	HoldDuration time.Duration
	// ExpectedPrice, when set, must equal the price at hold time.
	ExpectedPrice *money.Money
	// RequestID deduplicates retries of the caller (kit/idempotency); empty disables
	// deduplication.
	RequestID string
}

// validate checks what can be checked without reading inventory.
func (h *HoldRequest) validate(now time.Time) error {
	var v errs.Violations
	v.Check(h.Quantity >= 1 && h.Quantity <= MaxQuantity, "reservation.quantity", "must be 1 to %d", MaxQuantity)
	v.Check(h.HoldDuration == 0 || h.HoldDuration >= MinHoldDuration && h.HoldDuration <= MaxHoldDuration, "hold_duration", "must be 1 to 60 minutes")
	v.Check(runeLen(h.CustomerID, 0, 128), "reservation.customer_id", "must be at most 128 characters")
	switch {
	case h.Seat == nil && h.Stay == nil, h.Seat != nil && h.Stay != nil:
		v.Add("reservation.item", "exactly one of seat or stay is required")
	case h.Seat != nil:
		v.Check(h.Seat.DepartureID != "", "reservation.seat.departure_id", "is required")
		v.Check(h.Seat.DepartureID == "" || ValidID(h.Seat.DepartureID), "reservation.seat.departure_id", "must be a UUID")
		v.Check(identRE.MatchString(h.Seat.FareClass), "reservation.seat.fare_class", "must be 1 to 32 lower-case letters, digits, _ or -")
	default:
		v.Check(h.Stay.PropertyID != "", "reservation.stay.property_id", "is required")
		v.Check(h.Stay.PropertyID == "" || ValidID(h.Stay.PropertyID), "reservation.stay.property_id", "must be a UUID")
		v.Check(identRE.MatchString(h.Stay.RoomType), "reservation.stay.room_type", "must be 1 to 32 lower-case letters, digits, _ or -")
		validateStayDates(&v, h.Stay.CheckIn, h.Stay.CheckOut, now, "reservation.stay.check_in_date", "reservation.stay.check_out_date")
		v.Check(h.Stay.GuestCount >= 1, "reservation.stay.guest_count", "must be at least quantity")
		v.Check(h.Stay.GuestCount <= 0 || h.Stay.GuestCount >= h.Quantity, "reservation.stay.guest_count", "must be at least quantity")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := idempotency.CheckRequestID(h.RequestID, false); err != nil {
		return err
	}
	if h.ExpectedPrice != nil {
		if err := money.Check("expected_price", *h.ExpectedPrice); err != nil {
			return err
		}
	}
	return validateTravelers(h.Travelers, h.Quantity, h.Stay, "reservation.travelers")
}

// CreateReservation holds seats or rooms for a customer at the price the fare service
// quotes now. A retry with the same request id returns the first reservation and holds
// nothing more.
func (s *Service) CreateReservation(ctx context.Context, c caller.Caller, h HoldRequest) (*Reservation, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	switch {
	case c.Role == caller.Customer && h.CustomerID == "":
		h.CustomerID = c.Subject
	case c.Privileged() && h.CustomerID == "":
		return nil, errs.Invalid("reservation.customer_id", "is required for operators and services")
	case !c.MayAccess(h.CustomerID):
		return nil, errs.NotSettable("reservation.customer_id", "a customer may hold only for themselves")
	}
	now := s.now()
	if err := h.validate(now); err != nil {
		return nil, err
	}
	if err := s.checkCustomer(ctx, h.CustomerID); err != nil {
		return nil, err
	}
	key := requestKey(c, opCreateReservation, h.RequestID, h.params()...)
	r, err := s.hold(ctx, c, h, now, key)
	if err != nil && key.RequestID != "" && !errors.Is(err, idempotency.ErrRequestIDReused) {
		// A retry of a hold that was made returns it, whatever this attempt ran into
		// (inventory or a price that changed since, or the first attempt committing just
		// now). Looking only after a failure keeps the lookup off every first attempt.
		first, ferr := s.store.FindHold(ctx, key)
		switch {
		case ferr != nil:
			return nil, ferr
		case first != nil:
			return first, nil
		}
	}
	return r, err
}

// params lists what a hold request asks for, in a fixed order, for its idempotency key.
func (h *HoldRequest) params() []string {
	price := "any"
	if h.ExpectedPrice != nil {
		price = h.ExpectedPrice.String()
	}
	p := []string{h.CustomerID, strconv.Itoa(h.Quantity), h.HoldDuration.String(), price}
	if h.Seat != nil {
		p = append(p, "seat", h.Seat.DepartureID, h.Seat.FareClass)
	} else {
		p = append(p, "stay", h.Stay.PropertyID, h.Stay.RoomType, h.Stay.CheckIn.String(), h.Stay.CheckOut.String(),
			strconv.Itoa(h.Stay.GuestCount))
	}
	return append(p, h.Travelers...) // last: the parts are length-prefixed, so they cannot run into each other
}

// hold prices and stores a new hold for a validated request.
func (s *Service) hold(ctx context.Context, c caller.Caller, h HoldRequest, now time.Time, key idempotency.Key) (*Reservation, error) {
	r := &Reservation{
		ID: NewID(), CustomerID: h.CustomerID, Quantity: h.Quantity,
		Travelers: slices.Clone(h.Travelers), Status: StatusHeld, CreateTime: now, UpdateTime: now, Version: 1,
	}
	var quote Quote
	var err error
	if h.Seat != nil {
		quote, err = s.prepareSeat(ctx, r, h, now)
	} else {
		quote, err = s.prepareStay(ctx, r, h, now)
	}
	if err != nil {
		return nil, err
	}
	if h.ExpectedPrice != nil {
		if h.ExpectedPrice.Currency != quote.Total.Currency {
			return nil, errs.Invalid("expected_price.currency_code", "is %s but the price is in %s", h.ExpectedPrice.Currency, quote.Total.Currency)
		}
		if h.ExpectedPrice.Amount != quote.Total.Amount {
			return nil, errs.Precondition(ReasonPriceChanged, "the price is %s, not the expected %s", quote.Total, *h.ExpectedPrice)
		}
	}
	r.Price, r.RateCardID, r.RateVersion, r.QuoteID = quote.Total, quote.RateCardID, quote.RateVersion, quote.ID
	d := h.HoldDuration
	if d == 0 {
		d = DefaultHoldDuration
	}
	r.HoldExpireTime = now.Add(d)
	limit := r.ServiceStart
	if !limit.After(now) {
		limit = r.ServiceEnd
	}
	if r.HoldExpireTime.After(limit) {
		r.HoldExpireTime = limit
	}
	r.History = []StatusChange{{Status: StatusHeld, Time: now, Actor: c.Subject}}
	return s.store.Hold(ctx, r, key)
}

// prepareSeat fills r's seat item from the departure and quotes it.
func (s *Service) prepareSeat(ctx context.Context, r *Reservation, h HoldRequest, now time.Time) (Quote, error) {
	d, err := s.store.GetDeparture(ctx, h.Seat.DepartureID)
	if err != nil {
		return Quote{}, err
	}
	d.Refresh(now)
	fc, ok := d.FareClass(h.Seat.FareClass)
	if !ok {
		return Quote{}, errs.Invalid("reservation.seat.fare_class", "departure %s has no fare class %q", d.ID, h.Seat.FareClass)
	}
	if d.Status != DepartureScheduled {
		return Quote{}, errs.Precondition(ReasonNotOnSale, "departure %s is not on sale", d.ID)
	}
	if fc.Available() < h.Quantity {
		return Quote{}, ErrInsufficientAvailability
	}
	r.Kind = d.Mode.Kind()
	r.Seat = &SeatItem{
		DepartureID: d.ID, FareClass: fc.Name, Mode: d.Mode, Carrier: d.Carrier, Number: d.Number,
		Origin: d.Origin, Destination: d.Destination, DepartureTime: d.DepartureTime, ArrivalTime: d.ArrivalTime,
	}
	r.Policy = fc.Policy
	r.ServiceStart, r.ServiceEnd = d.DepartureTime, d.ArrivalTime
	if s.pricer == nil {
		return Quote{}, errNoPricer()
	}
	return s.pricer.QuoteSeats(ctx, SeatQuoteRequest{
		DepartureID: d.ID, Carrier: d.Carrier, Origin: d.Origin, Destination: d.Destination,
		FareClass: fc.Name, Quantity: h.Quantity, Used: fc.Held + fc.Sold, Capacity: fc.Capacity,
	})
}

// prepareStay fills r's stay item from the property and quotes it.
func (s *Service) prepareStay(ctx context.Context, r *Reservation, h HoldRequest, now time.Time) (Quote, error) {
	p, err := s.store.GetProperty(ctx, h.Stay.PropertyID)
	if err != nil {
		return Quote{}, err
	}
	rt, ok := p.RoomType(h.Stay.RoomType)
	if !ok {
		return Quote{}, errs.Invalid("reservation.stay.room_type", "property %s has no room type %q", p.ID, h.Stay.RoomType)
	}
	loc := p.Location()
	if h.Stay.CheckIn.Before(DateOf(now.In(loc))) {
		return Quote{}, errs.Invalid("reservation.stay.check_in_date", "must be today or later in %s", p.TimeZone)
	}
	if h.Stay.GuestCount > h.Quantity*rt.MaxGuests {
		return Quote{}, errs.Invalid("reservation.stay.guest_count", "must be at most quantity times max_guests (%d)", h.Quantity*rt.MaxGuests)
	}
	if p.Status != PropertyActive {
		return Quote{}, errs.Precondition(ReasonNotOnSale, "property %s is closed", p.ID)
	}
	avail, err := s.store.RoomAvailability(ctx, p.ID, h.Stay.CheckIn, h.Stay.CheckOut)
	if err != nil {
		return Quote{}, err
	}
	free := avail[rt.Name]
	if free < h.Quantity {
		return Quote{}, ErrInsufficientAvailability
	}
	r.Kind = KindStay
	r.Stay = &StayItem{
		PropertyID: p.ID, RoomType: rt.Name, CheckIn: h.Stay.CheckIn, CheckOut: h.Stay.CheckOut,
		GuestCount: h.Stay.GuestCount, PropertyName: p.Name, City: p.City,
	}
	r.Policy = rt.Policy
	r.ServiceStart = h.Stay.CheckIn.In(loc, p.CheckInHour)
	r.ServiceEnd = h.Stay.CheckOut.In(loc, p.CheckOutHour)
	if s.pricer == nil {
		return Quote{}, errNoPricer()
	}
	return s.pricer.QuoteStay(ctx, StayQuoteRequest{
		PropertyID: p.ID, RoomType: rt.Name, CheckIn: h.Stay.CheckIn, CheckOut: h.Stay.CheckOut,
		Quantity: h.Quantity, Used: rt.NightlyCapacity - free, Capacity: rt.NightlyCapacity,
	})
}

// GetReservation returns a reservation the caller may see; others' are NOT_FOUND.
func (s *Service) GetReservation(ctx context.Context, c caller.Caller, id string) (*Reservation, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if err := ids.Check("reservation_id", id); err != nil {
		return nil, err
	}
	r, err := s.store.GetReservation(ctx, id)
	if err != nil {
		return nil, err
	}
	if !c.MayAccess(r.CustomerID) {
		return nil, reservationNotFound(id) // as if it did not exist: no hint to other customers
	}
	return r, nil
}

// reservationNotFound is the error of a reservation that does not exist, or that the
// caller may not see.
func reservationNotFound(id string) error {
	return errs.Missing("", "reservation %s does not exist", id)
}

// errNoPricer is the error of a hold when the service has no fare client to price it.
func errNoPricer() error {
	return errs.Unreachable(ReasonFareUnavailable, "no fare service is configured to price holds")
}

// ListReservations lists reservations newest first; customers see only their own.
func (s *Service) ListReservations(ctx context.Context, c caller.Caller, f ReservationFilter, pageSize int, pageToken string) (Page[*Reservation], error) {
	var none Page[*Reservation]
	if err := requireCaller(c); err != nil {
		return none, err
	}
	if !c.Privileged() {
		if f.CustomerID == "" {
			f.CustomerID = c.Subject
		}
		if !c.MayAccess(f.CustomerID) {
			return none, errs.Denied("", "customer %s may not list customer %s's reservations", c.Subject, f.CustomerID)
		}
	}
	var v errs.Violations
	for i, st := range f.Statuses {
		v.Check(st.Valid(), "statuses["+itoa(i)+"]", "must be a defined status")
	}
	v.Check(f.Kind == KindUnspecified || f.Kind >= KindFlight && f.Kind <= KindStay, "kind", "must be a booking kind")
	if f.DepartureID != "" {
		ids.CheckTo(&v, "departure_id", f.DepartureID)
	}
	if f.PropertyID != "" {
		ids.CheckTo(&v, "property_id", f.PropertyID)
	}
	if err := v.Err(); err != nil {
		return none, err
	}
	q, err := readPage[TimeCursor](pageSize, pageToken, f.CustomerID, f.Statuses, f.Kind, f.DepartureID, f.PropertyID)
	if err != nil {
		return none, err
	}
	f.After, f.Limit = q.after, q.limit+1
	rs, err := s.store.ListReservations(ctx, f)
	if err != nil {
		return none, err
	}
	return cut(q, rs, func(r *Reservation) TimeCursor { return TimeCursor{Time: r.CreateTime, ID: r.ID} }), nil
}

// mutate runs a change on one reservation for c; another customer's reservation is
// NOT_FOUND, exactly as one that does not exist, so that changes are no existence oracle.
// idField names the id in the request; params are the change's parameters besides the
// id, for the idempotency key of requestID.
func (s *Service) mutate(ctx context.Context, c caller.Caller, idField, id, op, requestID string, params []string, fn func(r *Reservation, now time.Time) (Change, error)) (*Reservation, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if err := ids.Check(idField, id); err != nil {
		return nil, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return nil, err
	}
	now := s.now()
	key := requestKey(c, op, requestID, append([]string{id}, params...)...)
	r, err := s.store.UpdateReservation(ctx, id, key, func(r *Reservation) (Change, error) {
		if !c.MayAccess(r.CustomerID) {
			return Change{}, reservationNotFound(id)
		}
		return fn(r, now)
	})
	if err != nil {
		return nil, err
	}
	if !c.MayAccess(r.CustomerID) {
		return nil, reservationNotFound(id)
	}
	return r, nil
}

// ConfirmReservation turns a HELD reservation's held units into sold ones.
func (s *Service) ConfirmReservation(ctx context.Context, c caller.Caller, id, requestID string) (*Reservation, error) {
	return s.mutate(ctx, c, "reservation_id", id, opConfirm, requestID, nil, func(r *Reservation, now time.Time) (Change, error) {
		return r.Confirm(now, c.Subject)
	})
}

// CancelReservation cancels a HELD or CONFIRMED reservation under its policy; an
// operator's cancellation refunds the whole price.
func (s *Service) CancelReservation(ctx context.Context, c caller.Caller, id, reason, requestID string) (*Reservation, error) {
	if !runeLen(reason, 0, MaxReason) {
		return nil, errs.Invalid("reason", "must be at most %d characters", MaxReason)
	}
	return s.mutate(ctx, c, "reservation_id", id, opCancel, requestID, []string{reason}, func(r *Reservation, now time.Time) (Change, error) {
		return r.Cancel(now, c.Subject, reason, c.Role == caller.Operator)
	})
}

// CancellationQuote tells what cancelling now would refund, changing nothing.
func (s *Service) CancellationQuote(ctx context.Context, c caller.Caller, id string) (CancelQuote, error) {
	r, err := s.GetReservation(ctx, c, id)
	if err != nil {
		return CancelQuote{}, err
	}
	return r.QuoteCancel(s.now(), c.Role == caller.Operator)
}

// CheckInReservation checks a CONFIRMED reservation in within its window.
func (s *Service) CheckInReservation(ctx context.Context, c caller.Caller, id, requestID string) (*Reservation, error) {
	return s.mutate(ctx, c, "reservation_id", id, opCheckIn, requestID, nil, func(r *Reservation, now time.Time) (Change, error) {
		return r.CheckIn(now, c.Subject)
	})
}

// CheckOutReservation checks a CHECKED_IN stay out.
func (s *Service) CheckOutReservation(ctx context.Context, c caller.Caller, id, requestID string) (*Reservation, error) {
	return s.mutate(ctx, c, "reservation_id", id, opCheckOut, requestID, nil, func(r *Reservation, now time.Time) (Change, error) {
		return r.CheckOut(now, c.Subject)
	})
}

// SetSubStatus sets the free-form sub-status.
func (s *Service) SetSubStatus(ctx context.Context, c caller.Caller, id, subStatus, requestID string) (*Reservation, error) {
	if !runeLen(subStatus, 0, MaxSubStatus) {
		return nil, errs.Invalid("sub_status", "must be at most %d characters", MaxSubStatus)
	}
	return s.mutate(ctx, c, "reservation_id", id, opSetSubStatus, requestID, []string{subStatus}, func(r *Reservation, now time.Time) (Change, error) {
		return r.SetSubStatus(subStatus, now)
	})
}

// UpdateReservation changes the fields named in paths; only "travelers" may change.
func (s *Service) UpdateReservation(ctx context.Context, c caller.Caller, id string, version int64, travelers []string, paths []string, requestID string) (*Reservation, error) {
	if err := ids.Check("reservation.id", id); err != nil {
		return nil, err
	}
	if len(paths) != 1 || paths[0] != "travelers" {
		return nil, errs.Invalid("update_mask", "must be exactly [\"travelers\"]")
	}
	for i, n := range travelers {
		if !runeLen(n, 1, 200) {
			return nil, errs.Invalid("reservation.travelers["+itoa(i)+"].full_name", "must be 1 to 200 characters")
		}
	}
	params := append([]string{strconv.FormatInt(version, 10)}, travelers...)
	return s.mutate(ctx, c, "reservation.id", id, opUpdateReservation, requestID, params, func(r *Reservation, now time.Time) (Change, error) {
		if version != 0 && version != r.Version {
			return Change{}, errVersion("reservation", id, r.Version, version)
		}
		return r.SetTravelers(slices.Clone(travelers), now)
	})
}

// DetailStatus is the outcome of one id of a details batch.
type DetailStatus int

// The detail outcomes. Another customer's reservation is DetailNotFound, exactly as one
// that does not exist: a batch is no existence oracle.
const (
	DetailFound DetailStatus = iota + 1
	DetailNotFound
)

// DetailResult is the answer for one requested id.
type DetailResult struct {
	ID          string
	Status      DetailStatus
	Reservation *Reservation
}

// Details answers a batch of up to MaxDetailsBatch ids with one store query, in request
// order: found, or not found (also for another customer's reservation).
func (s *Service) Details(ctx context.Context, c caller.Caller, provider string, reservationIDs []string) ([]DetailResult, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if provider != "" && provider != ProviderName {
		return nil, errs.Invalid("provider", "must be %q or empty", ProviderName)
	}
	if len(reservationIDs) == 0 || len(reservationIDs) > MaxDetailsBatch {
		return nil, errs.Invalid("ids", "must hold 1 to %d ids, got %d", MaxDetailsBatch, len(reservationIDs))
	}
	lookup := make([]string, 0, len(reservationIDs))
	seen := make(map[string]bool, len(reservationIDs))
	var v errs.Violations
	for i, id := range reservationIDs {
		ids.CheckTo(&v, "ids["+itoa(i)+"]", id)
		if n := normalizeID(id); ValidID(n) && !seen[n] {
			seen[n] = true
			lookup = append(lookup, n)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	byID := make(map[string]*Reservation, len(lookup))
	if len(lookup) > 0 {
		rs, err := s.store.GetReservations(ctx, lookup)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			byID[r.ID] = r
		}
	}
	out := make([]DetailResult, len(reservationIDs))
	for i, id := range reservationIDs {
		r := byID[normalizeID(id)]
		switch {
		case r == nil, !c.MayAccess(r.CustomerID):
			out[i] = DetailResult{ID: id, Status: DetailNotFound}
		default:
			out[i] = DetailResult{ID: id, Status: DetailFound, Reservation: r}
		}
	}
	return out, nil
}

// normalizeID lower-cases a UUID, as the database prints it.
func normalizeID(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c >= 'A' && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// SweepBatch is how many reservations one sweep transaction handles.
const SweepBatch = 100

// ExpireHolds expires every HELD reservation whose hold lapsed by now, releasing its
// units, in batches; it returns how many it expired.
func (s *Service) ExpireHolds(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, SweepExpiry, now, func(r *Reservation) (Change, error) { return r.Expire(now) })
}

// CompleteEnded completes every reservation whose service ended by now.
func (s *Service) CompleteEnded(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, SweepCompletion, now, func(r *Reservation) (Change, error) { return r.Complete(now) })
}

func (s *Service) sweep(ctx context.Context, kind Sweep, now time.Time, fn func(r *Reservation) (Change, error)) (int, error) {
	total := 0
	for {
		n, err := s.store.SweepReservations(ctx, kind, now, SweepBatch, fn)
		total += n
		if err != nil || n < SweepBatch {
			return total, err
		}
	}
}

// RunSweeper expires lapsed holds and completes ended reservations every interval until
// ctx ends. Errors go to onError and the next tick tries again.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		if _, err := s.ExpireHolds(ctx, now); err != nil && ctx.Err() == nil {
			onError(err)
		}
		if _, err := s.CompleteEnded(ctx, now); err != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}
