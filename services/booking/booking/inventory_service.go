package booking

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
)

// Methods named in idempotency keys.
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
func (s *Service) CreateDeparture(ctx context.Context, c caller.Caller, d *Departure, requestID string) (*Departure, error) {
	if err := requireOperator(c); err != nil {
		return nil, err
	}
	now := s.now()
	if err := ValidateDeparture(d, now, "departure"); err != nil {
		return nil, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return nil, err
	}
	key := requestKey(c, opCreateDeparture, requestID, digest(d))
	nd := *d
	nd.ID = NewID()
	nd.Status = DepartureScheduled
	nd.CancelReason = ""
	nd.CreateTime, nd.UpdateTime, nd.Version = now, now, 1
	nd.FareClasses = slices.Clone(d.FareClasses)
	for i := range nd.FareClasses {
		nd.FareClasses[i].Held, nd.FareClasses[i].Sold = 0, 0
	}
	out, err := s.store.CreateDeparture(ctx, &nd, key)
	if err != nil {
		return nil, err
	}
	out.Refresh(now)
	return out, nil
}

// GetDeparture returns one departure to any authenticated caller.
func (s *Service) GetDeparture(ctx context.Context, c caller.Caller, id string) (*Departure, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if err := ids.Check("departure_id", id); err != nil {
		return nil, err
	}
	d, err := s.store.GetDeparture(ctx, id)
	if err != nil {
		return nil, err
	}
	d.Refresh(s.now())
	return d, nil
}

// ListDepartures lists departures for operators.
func (s *Service) ListDepartures(ctx context.Context, c caller.Caller, f DepartureFilter, pageSize int, pageToken string) (Page[*Departure], error) {
	if err := requireOperator(c); err != nil {
		return Page[*Departure]{}, err
	}
	q, err := readPage[TimeCursor](pageSize, pageToken, f.Mode, f.Carrier, f.Origin, f.Destination, f.Status, f.From, f.To)
	if err != nil {
		return Page[*Departure]{}, err
	}
	f.After, f.Limit, f.Now = q.after, q.limit+1, s.now()
	ds, err := s.store.ListDepartures(ctx, f)
	if err != nil {
		return Page[*Departure]{}, err
	}
	for _, d := range ds {
		d.Refresh(f.Now)
	}
	return cut(q, ds, func(d *Departure) TimeCursor { return TimeCursor{Time: d.DepartureTime, ID: d.ID} }), nil
}

// checkUpdate is what an update checks before anything else: the caller is an
// operator, the resource's id (idField) is set, the field mask names at least one field
// and only fields of allowed, and the request id is well formed.
func checkUpdate(c caller.Caller, id, idField string, paths, allowed []string, requestID string) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	if err := ids.Check(idField, id); err != nil {
		return err
	}
	if len(paths) == 0 {
		return errs.Invalid("update_mask", "must name at least one field")
	}
	for _, p := range paths {
		if !slices.Contains(allowed, p) {
			return errs.Invalid("update_mask", "cannot change %q; allowed: %v", p, allowed)
		}
	}
	return idempotency.CheckRequestID(requestID, false)
}

// Paths UpdateDeparture accepts.
var departurePaths = []string{"carrier", "number", "departure_time", "arrival_time", "fare_classes", "sub_status"}

// UpdateDeparture changes the fields named in paths; operators only.
func (s *Service) UpdateDeparture(ctx context.Context, c caller.Caller, in *Departure, paths []string, requestID string) (*Departure, error) {
	if err := checkUpdate(c, in.ID, "departure.id", paths, departurePaths, requestID); err != nil {
		return nil, err
	}
	now := s.now()
	// Validate the new values before touching the database.
	var v errs.Violations
	if slices.Contains(paths, "carrier") {
		v.Check(runeLen(in.Carrier, 1, 64), "departure.carrier", "must be 1 to 64 characters")
	}
	if slices.Contains(paths, "number") {
		v.Check(runeLen(in.Number, 1, 32), "departure.number", "must be 1 to 32 characters")
	}
	if slices.Contains(paths, "departure_time") {
		v.Check(in.DepartureTime.After(now), "departure.departure_time", "must be in the future")
		v.Check(!saleHorizon(now).Before(in.DepartureTime), "departure.departure_time", "must be at most %d days ahead", SaleDays)
	}
	if slices.Contains(paths, "fare_classes") {
		validateFareClasses(&v, in.FareClasses, "departure.fare_classes")
	}
	if slices.Contains(paths, "sub_status") {
		v.Check(runeLen(in.SubStatus, 0, MaxSubStatus), "departure.sub_status", "must be at most %d characters", MaxSubStatus)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	key := requestKey(c, opUpdateDeparture, requestID, in.ID, strings.Join(paths, ","), digest(in))
	out, err := s.store.UpdateDeparture(ctx, in.ID, key, func(d *Departure) (bool, error) {
		if in.Version != 0 && in.Version != d.Version {
			return false, errVersion("departure", d.ID, d.Version, in.Version)
		}
		d.Refresh(now)
		if d.Status != DepartureScheduled && (len(paths) > 1 || paths[0] != "sub_status") {
			return false, errs.Precondition(ReasonNotOnSale, "only sub_status may change on a departure that left or was cancelled")
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
			return false, errs.Invalid("departure.arrival_time", "must be after departure_time")
		}
		if d.ArrivalTime.Sub(d.DepartureTime) > MaxJourney {
			return false, errs.Invalid("departure.arrival_time", "must be at most %v after departure_time", MaxJourney)
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
				return nil, errs.Precondition(ReasonInUse, "fare class %q has %d seats held or sold, more than the new capacity", cur.Name, cur.Held+cur.Sold)
			}
		}
	}
	for _, cur := range current {
		if _, ok := findFareClass(next, cur.Name); !ok && cur.Held+cur.Sold > 0 {
			return nil, errs.Precondition(ReasonInUse, "fare class %q has seats held or sold and cannot be removed", cur.Name)
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
// the caller is an operator, the id (idField) is a UUID, the reason and request id are
// well formed.
func checkWithdrawal(c caller.Caller, id, idField, reason, requestID string) error {
	if err := requireOperator(c); err != nil {
		return err
	}
	var v errs.Violations
	ids.CheckTo(&v, idField, id)
	v.Check(runeLen(reason, 1, MaxReason), "reason", "must be 1 to %d characters", MaxReason)
	if err := v.Err(); err != nil {
		return err
	}
	return idempotency.CheckRequestID(requestID, false)
}

// CancelDeparture cancels a SCHEDULED departure and all its HELD and CONFIRMED
// reservations with a full refund; operators only.
func (s *Service) CancelDeparture(ctx context.Context, c caller.Caller, id, reason, requestID string) (*Departure, int, error) {
	if err := checkWithdrawal(c, id, "departure_id", reason, requestID); err != nil {
		return nil, 0, err
	}
	now := s.now()
	key := requestKey(c, opCancelDeparture, requestID, id, reason)
	d, n, err := s.store.CancelDeparture(ctx, id, key, func(d *Departure) (bool, error) {
		d.Refresh(now)
		switch d.Status {
		case DepartureCancelled:
			return false, nil
		case DepartureDeparted:
			return false, errs.Precondition(ReasonNotOnSale, "departure %s already left", d.ID)
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
func (s *Service) SearchDepartures(ctx context.Context, c caller.Caller, q DepartureSearch, passengers, pageSize int, pageToken string) (Page[DepartureOffer], error) {
	var none Page[DepartureOffer]
	if err := requireCaller(c); err != nil {
		return none, err
	}
	now := s.now()
	var v errs.Violations
	v.Check(runeLen(q.Origin, 1, 16), "origin", "must be 1 to 16 characters")
	v.Check(runeLen(q.Destination, 1, 16), "destination", "must be 1 to 16 characters")
	v.Check(q.Origin != q.Destination, "destination", "must differ from origin")
	v.Check(q.Date.Valid(), "date", "must be a valid date")
	v.Check(!q.Date.Valid() || !q.Date.Before(earliestToday(now)), "date", "must be today or later")
	v.Check(!q.Date.Valid() || !latestSaleDate(now).Before(q.Date), "date", "must be at most %d days ahead", SaleDays)
	v.Check(q.Mode == ModeUnspecified || q.Mode.Valid(), "mode", "must be a defined mode")
	v.Check(passengers >= 0 && passengers <= 9, "passengers", "must be 1 to 9")
	if err := v.Err(); err != nil {
		return none, err
	}
	passengers = max(passengers, 1)
	pq, err := readPage[TimeCursor](pageSize, pageToken, q.Origin, q.Destination, q.Date.String(), q.Mode)
	if err != nil {
		return none, err
	}
	limit := pq.limit
	q.After, q.Limit, q.Now = pq.after, limit+1, now
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
	return cut(pq, offers, func(o DepartureOffer) TimeCursor {
		return TimeCursor{Time: o.Departure.DepartureTime, ID: o.Departure.ID}
	}), nil
}

// CreateProperty adds an ACTIVE property; operators only.
func (s *Service) CreateProperty(ctx context.Context, c caller.Caller, p *Property, requestID string) (*Property, error) {
	if err := requireOperator(c); err != nil {
		return nil, err
	}
	if err := ValidateProperty(p, "property"); err != nil {
		return nil, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return nil, err
	}
	key := requestKey(c, opCreateProperty, requestID, digest(p))
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
	return s.store.CreateProperty(ctx, &np, key)
}

// GetProperty returns one property to any authenticated caller.
func (s *Service) GetProperty(ctx context.Context, c caller.Caller, id string) (*Property, error) {
	if err := requireCaller(c); err != nil {
		return nil, err
	}
	if err := ids.Check("property_id", id); err != nil {
		return nil, err
	}
	return s.store.GetProperty(ctx, id)
}

// ListProperties lists properties for operators.
func (s *Service) ListProperties(ctx context.Context, c caller.Caller, f PropertyFilter, pageSize int, pageToken string) (Page[*Property], error) {
	if err := requireOperator(c); err != nil {
		return Page[*Property]{}, err
	}
	q, err := readPage[NameCursor](pageSize, pageToken, f.City, f.Status)
	if err != nil {
		return Page[*Property]{}, err
	}
	f.After, f.Limit = q.after, q.limit+1
	ps, err := s.store.ListProperties(ctx, f)
	if err != nil {
		return Page[*Property]{}, err
	}
	return cut(q, ps, func(p *Property) NameCursor { return NameCursor{City: p.City, Name: p.Name, ID: p.ID} }), nil
}

// Paths UpdateProperty accepts.
var propertyPaths = []string{"name", "address", "location", "check_in_hour", "check_out_hour", "room_types", "sub_status"}

// UpdateProperty changes the fields named in paths; operators only.
func (s *Service) UpdateProperty(ctx context.Context, c caller.Caller, in *Property, paths []string, requestID string) (*Property, error) {
	if err := checkUpdate(c, in.ID, "property.id", paths, propertyPaths, requestID); err != nil {
		return nil, err
	}
	var v errs.Violations
	for _, p := range paths {
		switch p {
		case "name":
			v.Check(runeLen(in.Name, 1, 200), "property.name", "must be 1 to 200 characters")
		case "address":
			v.Check(runeLen(in.Address, 0, 500), "property.address", "must be at most 500 characters")
		case "location":
			v.Check(in.Latitude >= -90 && in.Latitude <= 90, "property.location.latitude", "must be in [-90, 90]")
			v.Check(in.Longitude >= -180 && in.Longitude <= 180, "property.location.longitude", "must be in [-180, 180]")
		case "check_in_hour":
			v.Check(in.CheckInHour >= 0 && in.CheckInHour <= 23, "property.check_in_hour", "must be 0 to 23")
		case "check_out_hour":
			v.Check(in.CheckOutHour >= 0 && in.CheckOutHour <= 23, "property.check_out_hour", "must be 0 to 23")
		case "room_types":
			validateRoomTypes(&v, in.RoomTypes, "property.room_types")
		case "sub_status":
			v.Check(runeLen(in.SubStatus, 0, MaxSubStatus), "property.sub_status", "must be at most %d characters", MaxSubStatus)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	key := requestKey(c, opUpdateProperty, requestID, in.ID, strings.Join(paths, ","), digest(in))
	today := func(p *Property) Date { return DateOf(now.In(p.Location())) }
	return s.store.UpdateProperty(ctx, in.ID, key, today, func(p *Property) error {
		if in.Version != 0 && in.Version != p.Version {
			return errVersion("property", p.ID, p.Version, in.Version)
		}
		if p.Status != PropertyActive && (len(paths) > 1 || paths[0] != "sub_status") {
			return errs.Precondition(ReasonNotOnSale, "only sub_status may change on a closed property")
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
func (s *Service) CloseProperty(ctx context.Context, c caller.Caller, id, reason, requestID string) (*Property, int, error) {
	if err := checkWithdrawal(c, id, "property_id", reason, requestID); err != nil {
		return nil, 0, err
	}
	now := s.now()
	key := requestKey(c, opCloseProperty, requestID, id, reason)
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
func (s *Service) SearchStays(ctx context.Context, c caller.Caller, q StaySearch, guests, rooms, pageSize int, pageToken string) (Page[StayOffer], error) {
	var none Page[StayOffer]
	if err := requireCaller(c); err != nil {
		return none, err
	}
	now := s.now()
	var v errs.Violations
	v.Check(cityRE.MatchString(q.City), "city", "must be 1 to 64 lower-case letters, digits or -")
	validateStayDates(&v, q.CheckIn, q.CheckOut, now, "check_in_date", "check_out_date")
	v.Check(guests >= 0 && guests <= 40, "guests", "must be 1 to 40")
	v.Check(rooms >= 0 && rooms <= 9, "rooms", "must be 1 to 9")
	if err := v.Err(); err != nil {
		return none, err
	}
	guests, rooms = max(guests, 1), max(rooms, 1)
	if rooms > guests {
		return none, errs.Invalid("rooms", "must not exceed guests")
	}
	pq, err := readPage[NameCursor](pageSize, pageToken, q.City, q.CheckIn.String(), q.CheckOut.String())
	if err != nil {
		return none, err
	}
	limit := pq.limit
	q.After, q.Limit = pq.after, limit+1
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
	return cut(pq, offers, func(o StayOffer) NameCursor { return NameCursor{Name: o.Property.Name, ID: o.Property.ID} }), nil
}

// latestSaleDate is the latest date that is at most SaleDays ahead somewhere on Earth
// (UTC+14), so that a date is refused as too far ahead only when it is everywhere.
func latestSaleDate(now time.Time) Date {
	return DateOf(now.UTC().Add(14 * time.Hour)).AddDays(SaleDays)
}

// validateStayDates checks a stay's dates at now: the check-in date from today to the sale
// horizon, the check-out date 1 to 30 nights later.
func validateStayDates(v *errs.Violations, in, out Date, now time.Time, inField, outField string) {
	v.Check(in.Valid(), inField, "must be a valid date")
	v.Check(out.Valid(), outField, "must be a valid date")
	if in.Valid() && out.Valid() {
		v.Check(!in.Before(earliestToday(now)), inField, "must be today or later")
		v.Check(!latestSaleDate(now).Before(in), inField, "must be at most %d days ahead", SaleDays)
		n := in.DaysUntil(out)
		v.Check(n >= 1 && n <= 30, outField, "must be 1 to 30 nights after %s", inField)
	}
}
