package booking

import (
	"context"
	"slices"
	"time"
)

// Operations named in idempotency keys.
const (
	opCreateDeparture = "CreateDeparture"
	opUpdateDeparture = "UpdateDeparture"
	opCancelDeparture = "CancelDeparture"
	opCreateProperty  = "CreateProperty"
	opUpdateProperty  = "UpdateProperty"
	opCloseProperty   = "CloseProperty"
)

// offerQuotes collects a search page's options to price and their requests.
type offerQuotes struct {
	options  []*Option
	requests []OfferQuoteRequest
}

func (q *offerQuotes) add(opt *Option, r OfferQuoteRequest) {
	q.options = append(q.options, opt)
	q.requests = append(q.requests, r)
}

// priceOffers prices a search page's options with one call to the fare service, under
// the search's quote deadline. Options fare could not price (no rate card, or fare not
// answering in time) are left without a quote: a search never fails for want of prices.
func (s *Service) priceOffers(ctx context.Context, q offerQuotes) {
	if s.pricer == nil || len(q.requests) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	quotes, err := s.pricer.QuoteOffers(ctx, q.requests)
	if err != nil || len(quotes) != len(q.requests) {
		return
	}
	for i, opt := range q.options {
		opt.Quote = quotes[i]
	}
}

// earliestToday is the earliest date that is "today" somewhere on Earth (UTC-12), so that
// a date is refused as past only when it is past everywhere.
func earliestToday(now time.Time) Date { return DateOf(now.UTC().Add(-12 * time.Hour)) }

// CreateDeparture adds a SCHEDULED departure; operators only.
func (s *Service) CreateDeparture(ctx context.Context, c Caller, d *Departure, requestID string) (*Departure, error) {
	if err := requireOperator(c); err != nil {
		return nil, err
	}
	now := s.now()
	if err := ValidateDeparture(d, now, "departure"); err != nil {
		return nil, err
	}
	if err := validRequestID(requestID); err != nil {
		return nil, err
	}
	nd := *d
	nd.ID = NewID()
	nd.Status = DepartureScheduled
	nd.CancelReason = ""
	nd.CreateTime, nd.UpdateTime, nd.Version = now, now, 1
	nd.FareClasses = slices.Clone(d.FareClasses)
	for i := range nd.FareClasses {
		nd.FareClasses[i].Held, nd.FareClasses[i].Sold = 0, 0
	}
	out, err := s.store.CreateDeparture(ctx, &nd, IdempotencyKey{Actor: c.Subject, Operation: opCreateDeparture, RequestID: requestID})
	if err != nil {
		return nil, err
	}
	out.Refresh(now)
	return out, nil
}

// GetDeparture returns one departure to any authenticated caller.
func (s *Service) GetDeparture(ctx context.Context, c Caller, id string) (*Departure, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, Invalid("departure_id", "is required")
	}
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	d, err := s.store.GetDeparture(ctx, id)
	if err != nil {
		return nil, err
	}
	d.Refresh(s.now())
	return d, nil
}

// ListDepartures lists departures for operators.
func (s *Service) ListDepartures(ctx context.Context, c Caller, f DepartureFilter, pageSize int, pageToken string) (Page[*Departure], error) {
	if err := requireOperator(c); err != nil {
		return Page[*Departure]{}, err
	}
	limit, err := PageSize(pageSize)
	if err != nil {
		return Page[*Departure]{}, err
	}
	if f.After, err = decodeToken[TimeCursor](pageToken); err != nil {
		return Page[*Departure]{}, err
	}
	f.Limit, f.Now = limit+1, s.now()
	ds, err := s.store.ListDepartures(ctx, f)
	if err != nil {
		return Page[*Departure]{}, err
	}
	for _, d := range ds {
		d.Refresh(f.Now)
	}
	return page(ds, limit, func(d *Departure) any { return TimeCursor{Time: d.DepartureTime, ID: d.ID} }), nil
}

// checkUpdate is what an update checks before anything else: the caller is an
// operator, the resource's id (idField) is set, the field mask names at least one field
// and only fields of allowed, and the request id is well formed.
func checkUpdate(c Caller, id, idField string, paths, allowed []string, requestID string) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	if id == "" {
		return Invalid(idField, "is required")
	}
	if len(paths) == 0 {
		return Invalid("update_mask", "must name at least one field")
	}
	for _, p := range paths {
		if !slices.Contains(allowed, p) {
			return Invalid("update_mask", "cannot change %q; allowed: %v", p, allowed)
		}
	}
	return validRequestID(requestID)
}

// Paths UpdateDeparture accepts.
var departurePaths = []string{"carrier", "number", "departure_time", "arrival_time", "fare_classes", "sub_status"}

// UpdateDeparture changes the fields named in paths; operators only.
func (s *Service) UpdateDeparture(ctx context.Context, c Caller, in *Departure, paths []string, requestID string) (*Departure, error) {
	if err := checkUpdate(c, in.ID, "departure.id", paths, departurePaths, requestID); err != nil {
		return nil, err
	}
	if !ValidID(in.ID) {
		return nil, ErrNotFound
	}
	now := s.now()
	// Validate the new values before touching the database.
	var v validator
	if slices.Contains(paths, "carrier") {
		v.check(runeLen(in.Carrier, 1, 64), "departure.carrier", "must be 1 to 64 characters")
	}
	if slices.Contains(paths, "number") {
		v.check(runeLen(in.Number, 1, 32), "departure.number", "must be 1 to 32 characters")
	}
	if slices.Contains(paths, "departure_time") {
		v.check(in.DepartureTime.After(now), "departure.departure_time", "must be in the future")
	}
	if slices.Contains(paths, "fare_classes") {
		validateFareClasses(&v, in.FareClasses, "departure.fare_classes")
	}
	if slices.Contains(paths, "sub_status") {
		v.check(runeLen(in.SubStatus, 0, MaxSubStatus), "departure.sub_status", "must be at most %d characters", MaxSubStatus)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	key := IdempotencyKey{Actor: c.Subject, Operation: opUpdateDeparture, RequestID: requestID}
	out, err := s.store.UpdateDeparture(ctx, in.ID, key, func(d *Departure) (bool, error) {
		if in.Version != 0 && in.Version != d.Version {
			return false, ErrConflict
		}
		d.Refresh(now)
		if d.Status != DepartureScheduled && (len(paths) > 1 || paths[0] != "sub_status") {
			return false, Precondition(ReasonNotOnSale, "only sub_status may change on a departure that left or was cancelled")
		}
		oldDep, oldArr := d.DepartureTime, d.ArrivalTime
		for _, p := range paths {
			switch p {
			case "carrier":
				d.Carrier = in.Carrier
			case "number":
				d.Number = in.Number
			case "departure_time":
				d.DepartureTime = in.DepartureTime
			case "arrival_time":
				d.ArrivalTime = in.ArrivalTime
			case "sub_status":
				d.SubStatus = in.SubStatus
			case "fare_classes":
				fcs, err := replaceFareClasses(d.FareClasses, in.FareClasses)
				if err != nil {
					return false, err
				}
				d.FareClasses = fcs
			}
		}
		if !d.ArrivalTime.After(d.DepartureTime) {
			return false, Invalid("departure.arrival_time", "must be after departure_time")
		}
		d.UpdateTime = now
		d.Version++
		return !d.DepartureTime.Equal(oldDep) || !d.ArrivalTime.Equal(oldArr), nil
	})
	if err != nil {
		return nil, err
	}
	out.Refresh(now)
	return out, nil
}

// replaceFareClasses returns the new fare class list with the current counters, refusing
// to drop a class with held or sold seats or to lower a capacity below them.
func replaceFareClasses(current, next []FareClass) ([]FareClass, error) {
	out := slices.Clone(next)
	for i := range out {
		out[i].Held, out[i].Sold = 0, 0
		if cur, ok := findFareClass(current, out[i].Name); ok {
			out[i].Held, out[i].Sold = cur.Held, cur.Sold
			if out[i].Capacity < cur.Held+cur.Sold {
				return nil, Precondition(ReasonInUse, "fare class %q has %d seats held or sold, more than the new capacity", cur.Name, cur.Held+cur.Sold)
			}
		}
	}
	for _, cur := range current {
		if _, ok := findFareClass(next, cur.Name); !ok && cur.Held+cur.Sold > 0 {
			return nil, Precondition(ReasonInUse, "fare class %q has seats held or sold and cannot be removed", cur.Name)
		}
	}
	return out, nil
}

func findFareClass(fcs []FareClass, name string) (FareClass, bool) {
	for _, f := range fcs {
		if f.Name == name {
			return f, true
		}
	}
	return FareClass{}, false
}

// checkWithdrawal is what cancelling a departure or closing a property checks first:
// the caller is an operator, the id (idField) is set, the reason and request id are
// well formed; an id that cannot exist is ErrNotFound.
func checkWithdrawal(c Caller, id, idField, reason, requestID string) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	var v validator
	v.check(id != "", idField, "is required")
	v.check(runeLen(reason, 1, MaxReason), "reason", "must be 1 to %d characters", MaxReason)
	v.check(runeLen(requestID, 0, MaxRequestID), "request_id", "must be at most %d characters", MaxRequestID)
	if err := v.err(); err != nil {
		return err
	}
	if !ValidID(id) {
		return ErrNotFound
	}
	return nil
}

// CancelDeparture cancels a SCHEDULED departure and all its HELD and CONFIRMED
// reservations with a full refund; operators only.
func (s *Service) CancelDeparture(ctx context.Context, c Caller, id, reason, requestID string) (*Departure, int, error) {
	if err := checkWithdrawal(c, id, "departure_id", reason, requestID); err != nil {
		return nil, 0, err
	}
	now := s.now()
	key := IdempotencyKey{Actor: c.Subject, Operation: opCancelDeparture, RequestID: requestID}
	d, n, err := s.store.CancelDeparture(ctx, id, key, func(d *Departure) (bool, error) {
		d.Refresh(now)
		switch d.Status {
		case DepartureCancelled:
			return false, nil
		case DepartureDeparted:
			return false, Precondition(ReasonNotOnSale, "the departure already left")
		}
		d.Status, d.CancelReason, d.UpdateTime = DepartureCancelled, reason, now
		d.Version++
		return true, nil
	}, func(r *Reservation) (Change, error) {
		r.SubStatus = SubStatusDepartureCancelled
		return r.Cancel(now, ActorSystem, reason, true)
	})
	if err != nil {
		return nil, 0, err
	}
	d.Refresh(now)
	return d, n, nil
}

// DepartureOffer is one departure found by a search with an option per fare class.
type DepartureOffer struct {
	Departure *Departure
	Options   []Option
}

// Option is the availability and indicative price of a fare class or room type.
type Option struct {
	Name      string
	Available int
	Fits      bool
	// Quote is nil when not available or the fare service could not price it.
	Quote *Quote
}

// SearchDepartures finds scheduled departures on a route and local date, with a quote per
// fare class that fits the party.
func (s *Service) SearchDepartures(ctx context.Context, c Caller, q DepartureSearch, passengers, pageSize int, pageToken string) (Page[DepartureOffer], error) {
	var none Page[DepartureOffer]
	if err := requireCaller(c); err != nil {
		return none, err
	}
	now := s.now()
	var v validator
	v.check(runeLen(q.Origin, 1, 16), "origin", "must be 1 to 16 characters")
	v.check(runeLen(q.Destination, 1, 16), "destination", "must be 1 to 16 characters")
	v.check(q.Origin != q.Destination, "destination", "must differ from origin")
	v.check(q.Date.Valid(), "date", "must be a valid date")
	v.check(!q.Date.Valid() || !q.Date.Before(earliestToday(now)), "date", "must be today or later")
	v.check(q.Mode == ModeUnspecified || q.Mode.Valid(), "mode", "must be a defined mode")
	v.check(passengers >= 0 && passengers <= 9, "passengers", "must be 1 to 9")
	if err := v.err(); err != nil {
		return none, err
	}
	passengers = max(passengers, 1)
	limit, err := PageSize(pageSize)
	if err != nil {
		return none, err
	}
	if q.After, err = decodeToken[TimeCursor](pageToken); err != nil {
		return none, err
	}
	q.Limit, q.Now = limit+1, now
	ds, err := s.store.SearchDepartures(ctx, q)
	if err != nil {
		return none, err
	}
	offers := make([]DepartureOffer, len(ds))
	var quotes offerQuotes
	for i, d := range ds {
		d.Refresh(now)
		offers[i] = DepartureOffer{Departure: d, Options: make([]Option, len(d.FareClasses))}
		for j, fc := range d.FareClasses {
			opt := &offers[i].Options[j]
			*opt = Option{Name: fc.Name, Available: fc.Available(), Fits: fc.Available() >= passengers}
			if opt.Fits && i < limit {
				quotes.add(opt, OfferQuoteRequest{Seat: &SeatQuoteRequest{
					DepartureID: d.ID, Carrier: d.Carrier, Origin: d.Origin, Destination: d.Destination,
					FareClass: fc.Name, Quantity: passengers, Used: fc.Held + fc.Sold, Capacity: fc.Capacity,
				}})
			}
		}
	}
	s.priceOffers(ctx, quotes)
	return page(offers, limit, func(o DepartureOffer) any {
		return TimeCursor{Time: o.Departure.DepartureTime, ID: o.Departure.ID}
	}), nil
}

// CreateProperty adds an ACTIVE property; operators only.
func (s *Service) CreateProperty(ctx context.Context, c Caller, p *Property, requestID string) (*Property, error) {
	if err := requireOperator(c); err != nil {
		return nil, err
	}
	if err := ValidateProperty(p, "property"); err != nil {
		return nil, err
	}
	if err := validRequestID(requestID); err != nil {
		return nil, err
	}
	now := s.now()
	np := *p
	np.ID = NewID()
	np.Status = PropertyActive
	np.CloseReason = ""
	if np.CheckInHour == 0 {
		np.CheckInHour = DefaultCheckInHour
	}
	if np.CheckOutHour == 0 {
		np.CheckOutHour = DefaultCheckOutHour
	}
	np.CreateTime, np.UpdateTime, np.Version = now, now, 1
	return s.store.CreateProperty(ctx, &np, IdempotencyKey{Actor: c.Subject, Operation: opCreateProperty, RequestID: requestID})
}

// GetProperty returns one property to any authenticated caller.
func (s *Service) GetProperty(ctx context.Context, c Caller, id string) (*Property, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, Invalid("property_id", "is required")
	}
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	return s.store.GetProperty(ctx, id)
}

// ListProperties lists properties for operators.
func (s *Service) ListProperties(ctx context.Context, c Caller, f PropertyFilter, pageSize int, pageToken string) (Page[*Property], error) {
	if err := requireOperator(c); err != nil {
		return Page[*Property]{}, err
	}
	limit, err := PageSize(pageSize)
	if err != nil {
		return Page[*Property]{}, err
	}
	if f.After, err = decodeToken[NameCursor](pageToken); err != nil {
		return Page[*Property]{}, err
	}
	f.Limit = limit + 1
	ps, err := s.store.ListProperties(ctx, f)
	if err != nil {
		return Page[*Property]{}, err
	}
	return page(ps, limit, func(p *Property) any { return NameCursor{City: p.City, Name: p.Name, ID: p.ID} }), nil
}

// Paths UpdateProperty accepts.
var propertyPaths = []string{"name", "address", "location", "check_in_hour", "check_out_hour", "room_types", "sub_status"}

// UpdateProperty changes the fields named in paths; operators only.
func (s *Service) UpdateProperty(ctx context.Context, c Caller, in *Property, paths []string, requestID string) (*Property, error) {
	if err := checkUpdate(c, in.ID, "property.id", paths, propertyPaths, requestID); err != nil {
		return nil, err
	}
	var v validator
	for _, p := range paths {
		switch p {
		case "name":
			v.check(runeLen(in.Name, 1, 200), "property.name", "must be 1 to 200 characters")
		case "address":
			v.check(runeLen(in.Address, 0, 500), "property.address", "must be at most 500 characters")
		case "location":
			v.check(in.Latitude >= -90 && in.Latitude <= 90, "property.location.latitude", "must be in [-90, 90]")
			v.check(in.Longitude >= -180 && in.Longitude <= 180, "property.location.longitude", "must be in [-180, 180]")
		case "check_in_hour":
			v.check(in.CheckInHour >= 0 && in.CheckInHour <= 23, "property.check_in_hour", "must be 0 to 23")
		case "check_out_hour":
			v.check(in.CheckOutHour >= 0 && in.CheckOutHour <= 23, "property.check_out_hour", "must be 0 to 23")
		case "room_types":
			validateRoomTypes(&v, in.RoomTypes, "property.room_types")
		case "sub_status":
			v.check(runeLen(in.SubStatus, 0, MaxSubStatus), "property.sub_status", "must be at most %d characters", MaxSubStatus)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if !ValidID(in.ID) {
		return nil, ErrNotFound
	}
	now := s.now()
	key := IdempotencyKey{Actor: c.Subject, Operation: opUpdateProperty, RequestID: requestID}
	today := func(p *Property) Date { return DateOf(now.In(p.Location())) }
	return s.store.UpdateProperty(ctx, in.ID, key, today, func(p *Property) error {
		if in.Version != 0 && in.Version != p.Version {
			return ErrConflict
		}
		if p.Status != PropertyActive && (len(paths) > 1 || paths[0] != "sub_status") {
			return Precondition(ReasonNotOnSale, "only sub_status may change on a closed property")
		}
		for _, path := range paths {
			switch path {
			case "name":
				p.Name = in.Name
			case "address":
				p.Address = in.Address
			case "location":
				p.Latitude, p.Longitude = in.Latitude, in.Longitude
			case "check_in_hour":
				p.CheckInHour = in.CheckInHour
			case "check_out_hour":
				p.CheckOutHour = in.CheckOutHour
			case "room_types":
				p.RoomTypes = slices.Clone(in.RoomTypes)
			case "sub_status":
				p.SubStatus = in.SubStatus
			}
		}
		p.UpdateTime = now
		p.Version++
		return nil
	})
}

// CloseProperty closes an ACTIVE property and cancels its HELD and CONFIRMED reservations
// with a full refund; operators only.
func (s *Service) CloseProperty(ctx context.Context, c Caller, id, reason, requestID string) (*Property, int, error) {
	if err := checkWithdrawal(c, id, "property_id", reason, requestID); err != nil {
		return nil, 0, err
	}
	now := s.now()
	key := IdempotencyKey{Actor: c.Subject, Operation: opCloseProperty, RequestID: requestID}
	return s.store.CloseProperty(ctx, id, key, func(p *Property) (bool, error) {
		if p.Status == PropertyClosed {
			return false, nil
		}
		p.Status, p.CloseReason, p.UpdateTime = PropertyClosed, reason, now
		p.Version++
		return true, nil
	}, func(r *Reservation) (Change, error) {
		r.SubStatus = SubStatusPropertyClosed
		return r.Cancel(now, ActorSystem, reason, true)
	})
}

// StayOffer is one property found by a search with an option per fitting room type.
type StayOffer struct {
	Property *Property
	Options  []Option
}

// SearchStays finds active properties in a city with, per room type that fits the party,
// the rooms free on every night and a quote for the stay.
func (s *Service) SearchStays(ctx context.Context, c Caller, q StaySearch, guests, rooms, pageSize int, pageToken string) (Page[StayOffer], error) {
	var none Page[StayOffer]
	if err := requireCaller(c); err != nil {
		return none, err
	}
	now := s.now()
	var v validator
	v.check(cityRE.MatchString(q.City), "city", "must be 1 to 64 lower-case letters, digits or -")
	validateStayDates(&v, q.CheckIn, q.CheckOut, earliestToday(now), "check_in_date", "check_out_date")
	v.check(guests >= 0 && guests <= 40, "guests", "must be 1 to 40")
	v.check(rooms >= 0 && rooms <= 9, "rooms", "must be 1 to 9")
	if err := v.err(); err != nil {
		return none, err
	}
	guests, rooms = max(guests, 1), max(rooms, 1)
	if rooms > guests {
		return none, Invalid("rooms", "must not exceed guests")
	}
	limit, err := PageSize(pageSize)
	if err != nil {
		return none, err
	}
	if q.After, err = decodeToken[NameCursor](pageToken); err != nil {
		return none, err
	}
	q.Limit = limit + 1
	ps, err := s.store.SearchStays(ctx, q)
	if err != nil {
		return none, err
	}
	offers := make([]StayOffer, len(ps))
	var quotes offerQuotes
	for i, p := range ps {
		offers[i].Property = p
		for _, rt := range p.RoomTypes {
			if rooms*rt.MaxGuests < guests {
				continue
			}
			offers[i].Options = append(offers[i].Options, Option{Name: rt.Name, Available: rt.Available, Fits: rt.Available >= rooms})
		}
		for j := range offers[i].Options {
			opt := &offers[i].Options[j]
			rt, _ := p.RoomType(opt.Name)
			if opt.Fits && i < limit {
				quotes.add(opt, OfferQuoteRequest{Stay: &StayQuoteRequest{
					PropertyID: p.ID, RoomType: rt.Name, CheckIn: q.CheckIn, CheckOut: q.CheckOut,
					Quantity: rooms, Used: rt.NightlyCapacity - rt.Available, Capacity: rt.NightlyCapacity,
				}})
			}
		}
	}
	s.priceOffers(ctx, quotes)
	return page(offers, limit, func(o StayOffer) any { return NameCursor{Name: o.Property.Name, ID: o.Property.ID} }), nil
}

// validateStayDates checks a stay's dates against the earliest allowed check-in date.
func validateStayDates(v *validator, in, out, earliest Date, inField, outField string) {
	v.check(in.Valid(), inField, "must be a valid date")
	v.check(out.Valid(), outField, "must be a valid date")
	if in.Valid() && out.Valid() {
		v.check(!in.Before(earliest), inField, "must be today or later")
		n := in.DaysUntil(out)
		v.check(n >= 1 && n <= 30, outField, "must be 1 to 30 nights after %s", inField)
	}
}
