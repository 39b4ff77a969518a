package fare

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/waybill/waybill/kit/caller"
	citycode "github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// The reasons of ride fare errors.
const (
	// ReasonFareNotFound is the reason of GetFare's NOT_FOUND: fare knows neither a fare
	// nor the end of the trip.
	ReasonFareNotFound = "FARE_NOT_FOUND"
	// ReasonFareInputsDiffer is the reason of CalculateRideFare's ALREADY_EXISTS: the
	// trip has a fare calculated from other inputs.
	ReasonFareInputsDiffer = "FARE_EXISTS_WITH_OTHER_INPUTS"
)

// Retries of a trip fare could not price (for example when no rate card prices its
// product): the first after RetryInitial, doubling up to RetryMax.
const (
	RetryInitial = time.Second
	RetryMax     = 5 * time.Minute
	// MaxRequestTimeSkew is how far in the future a request time may lie and still be
	// accepted, for clocks that disagree a little.
	MaxRequestTimeSkew = 5 * time.Second
)

// CalculateInput is a completed trip's record as CalculateRideFare receives it.
type CalculateInput struct {
	TripID, CustomerID, City, Product string
	DistanceMeters, DurationSeconds   int64
	RequestTime                       time.Time
	QuoteID                           string
}

// Validate checks the input at now; fields are named as in the request.
func (in CalculateInput) Validate(now time.Time) error {
	if err := ids.Check("trip_id", in.TripID); err != nil {
		return err
	}
	if err := checkCustomerID("customer_id", in.CustomerID); err != nil {
		return err
	}
	if err := citycode.Check("city", in.City); err != nil {
		return err
	}
	if err := validateKeyString("product", in.Product); err != nil {
		return err
	}
	if in.DistanceMeters < 0 || in.DistanceMeters > MaxDistanceMeters {
		return errs.Invalid("distance_meters", "must be from 0 to %d, got %d", MaxDistanceMeters, in.DistanceMeters)
	}
	if in.DurationSeconds < 0 || in.DurationSeconds > MaxDurationSeconds {
		return errs.Invalid("duration_seconds", "must be from 0 to %d, got %d", MaxDurationSeconds, in.DurationSeconds)
	}
	if in.RequestTime.IsZero() {
		return errs.Invalid("request_time", "is required")
	}
	if in.RequestTime.After(now.Add(MaxRequestTimeSkew)) {
		return errs.Invalid("request_time", "must not be in the future")
	}
	if in.QuoteID != "" && !ids.ValidUUID(in.QuoteID) {
		return errs.Invalid("quote_id", "must be a quote id (a UUID) or empty")
	}
	return nil
}

// checkCustomerID checks a customer id: 1 to 128 printable ASCII characters without
// spaces.
func checkCustomerID(field, id string) error {
	if id == "" {
		return errs.Invalid(field, "is required")
	}
	if len(id) > 128 {
		return errs.Invalid(field, "at most 128 characters, got %d", len(id))
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return errs.Invalid(field, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// CalculateRideFare computes the fare of a completed trip from the record the caller
// gives (services and operators only), honouring the quote's rate version and surge when
// it locks them (LockedQuote), and stores it with its event. A trip has one fare: a call
// for a trip that has one returns it when the inputs match and fails with
// ALREADY_EXISTS otherwise. Idempotent by requestID (kit/idempotency) and by trip id.
func (s *Service) CalculateRideFare(ctx context.Context, c caller.Caller, in CalculateInput, requestID string) (Fare, error) {
	if !c.Privileged() {
		return Fare{}, errs.Denied("", "only services and operators may calculate fares")
	}
	now := s.clock()
	in.RequestTime = in.RequestTime.UTC().Truncate(time.Microsecond)
	if err := in.Validate(now); err != nil {
		return Fare{}, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return Fare{}, err
	}
	key := idempotencyKey("CalculateRideFare", c, requestID, in)
	_, err := s.store.RunRide(ctx, in.TripID, key, func(tx RideTx) error {
		want := Fare{TripID: in.TripID, CustomerID: in.CustomerID, City: in.City, Product: in.Product,
			DistanceMeters: in.DistanceMeters, DurationSeconds: in.DurationSeconds, DistanceSource: DistanceFromRequest,
			RequestTime: in.RequestTime, CreateTime: now}
		var q *Quote
		if in.QuoteID != "" {
			got, ok, err := tx.Quote(ctx, in.QuoteID)
			if err != nil {
				return err
			}
			if !ok {
				return errs.Invalid("quote_id", "no quote %s exists", in.QuoteID)
			}
			q = &got
		}
		card, surge, quoteID, err := s.rideCard(ctx, tx, in.City, in.Product, in.RequestTime, q, false)
		if err != nil {
			return err
		}
		want.QuoteID = quoteID
		if got, ok, err := tx.Fare(ctx, in.TripID); err != nil {
			return err
		} else if ok {
			if !got.SameInputs(want) {
				return errs.Exists(ReasonFareInputsDiffer, "trip %s already has a fare, calculated from other inputs", in.TripID)
			}
			return nil
		}
		return tx.InsertFare(ctx, PriceFare(want, card, surge))
	})
	if err != nil {
		return Fare{}, fmt.Errorf("calculate ride fare: %w", err)
	}
	f, err := s.store.Fare(ctx, in.TripID)
	if err != nil {
		return Fare{}, fmt.Errorf("calculate ride fare: read it back: %w", err)
	}
	return f, nil
}

// rideCard returns the rate card version, the surge and the quote id a ride of city and
// product requested at requestTime is priced with: the quote's version and surge when q
// locks them (LockedQuote), else the version in effect at requestTime and 1.0x. With
// fallback, a product that had no card in effect then is priced with the earliest
// version that took effect after it.
func (s *Service) rideCard(ctx context.Context, tx RideTx, city, product string, requestTime time.Time, q *Quote, fallback bool) (RateCard, int32, string, error) {
	if q != nil && LockedQuote(*q, city, product, requestTime) {
		card, err := tx.RateCardVersion(ctx, q.RateCardID, q.RateVersion)
		if err != nil {
			return RateCard{}, 0, "", err
		}
		return card, q.MultiplierBps, q.ID, nil
	}
	key := ProductKey{Kind: KindRide, Ride: RideProduct{City: city, Product: product}}
	card, ok, err := tx.RideCardAt(ctx, key, requestTime, false)
	if err != nil {
		return RateCard{}, 0, "", err
	}
	if !ok && fallback {
		card, ok, err = tx.RideCardAt(ctx, key, requestTime, true)
		if err != nil {
			return RateCard{}, 0, "", err
		}
	}
	if !ok || card.Ride == nil {
		return RateCard{}, 0, "", errs.Missing("", "no ride rate card for %s in %s was in effect at %s", product, city, requestTime.Format(time.RFC3339))
	}
	return card, OneX, "", nil
}

// FinishTrip applies a trip's ended or cancelled record (trip's event, received in tx,
// the consumer's transaction): it records the trip and prices it in the same
// transaction, so the fare and its event commit with the consumer's cursor. A
// cancellation is priced only when it is late (LateCancellation); other cancellations
// leave nothing. When the fare cannot be calculated yet (no rate card prices the ride)
// the trip stays recorded as calculating and RetryDue tries again later; a repeated
// event changes nothing.
func (s *Service) FinishTrip(ctx context.Context, tx RideTx, rec TripRecord) error {
	if err := rec.validate(); err != nil {
		return err
	}
	if rec.Cancelled && !LateCancellation(rec) {
		return nil
	}
	now := s.clock()
	ok, err := tx.RecordTrip(ctx, rec, now)
	if err != nil || !ok {
		return err
	}
	return s.priceRecorded(ctx, tx, rec, 0, now)
}

// validate checks what fare needs of a trip record.
func (rec TripRecord) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"id", rec.TripID}, {"customer_id", rec.CustomerID}, {"city", rec.City}, {"product", rec.Product}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return errs.Invalid("trip", "the trip record lacks %s", strings.Join(missing, ", "))
	}
	if rec.RequestTime.IsZero() {
		return errs.Invalid("trip.create_time", "the trip record lacks its request time")
	}
	return nil
}

// priceRecorded prices a recorded trip in tx: stores the fare (unless the trip got one
// from CalculateRideFare meanwhile), or, when pricing fails for a reason of the domain
// (no rate card), postpones it after the attempts made so far.
func (s *Service) priceRecorded(ctx context.Context, tx RideTx, rec TripRecord, attempts int, now time.Time) error {
	if _, ok, err := tx.Fare(ctx, rec.TripID); err != nil {
		return err
	} else if ok {
		return tx.MarkPriced(ctx, rec.TripID)
	}
	f, err := s.priceRecord(ctx, tx, rec, now)
	if err != nil {
		if _, domain := errs.As(err); !domain || errs.KindOf(err) == errs.Unavailable || errs.KindOf(err) == errs.Aborted {
			return err // the database's: retried by the caller's transaction
		}
		delay := RetryInitial << min(attempts, 20)
		return tx.Postpone(ctx, rec.TripID, err.Error(), now.Add(min(delay, RetryMax)))
	}
	return tx.InsertFare(ctx, f)
}

// priceRecord computes a recorded trip's fare at now.
func (s *Service) priceRecord(ctx context.Context, tx RideTx, rec TripRecord, now time.Time) (Fare, error) {
	var q *Quote
	if rec.QuoteID != "" && ids.ValidUUID(rec.QuoteID) {
		got, ok, err := tx.Quote(ctx, rec.QuoteID)
		if err != nil {
			return Fare{}, err
		}
		if ok {
			q = &got
		}
	}
	card, surge, quoteID, err := s.rideCard(ctx, tx, rec.City, rec.Product, rec.RequestTime, q, true)
	if err != nil {
		return Fare{}, err
	}
	f := Fare{TripID: rec.TripID, CustomerID: rec.CustomerID, City: rec.City, Product: rec.Product,
		QuoteID: quoteID, RequestTime: rec.RequestTime, CreateTime: now}
	f.Inputs.Fallback = !card.EffectiveTime.IsZero() && card.EffectiveTime.After(rec.RequestTime) && quoteID == ""
	if rec.Cancelled {
		return CancellationFee(f, card), nil
	}
	m := MeasureRoute(rec)
	f.DistanceMeters, f.DistanceSource, f.DurationSeconds = m.Meters, m.Source, RideDuration(rec)
	f.Inputs.Route = &m
	return PriceFare(f, card, surge), nil
}

// RetryDue tries again to price the recorded trips whose next attempt is due, up to
// limit of them (each is priced, or postponed again), and returns how many it tried.
func (s *Service) RetryDue(ctx context.Context, limit int) (int, error) {
	due, err := s.store.DueTrips(ctx, s.clock(), limit)
	if err != nil {
		return 0, err
	}
	for i, id := range due {
		err := s.store.RetryTrip(ctx, id, func(tx RideTx, rec TripRecord, attempts int) error {
			return s.priceRecorded(ctx, tx, rec, attempts, s.clock())
		})
		if err != nil {
			return i, fmt.Errorf("retry pricing trip %s: %w", id, err)
		}
	}
	return len(due), nil
}

// FareState says whether a trip's fare is known. Its values equal
// waybill.fare.v1.FareState.
type FareState int32

// The fare states.
const (
	FareStateUnspecified FareState = 0
	FareStateCalculating FareState = 1
	FareStateCalculated  FareState = 2
)

// GetFare returns a trip's fare (state FareStateCalculated), or state
// FareStateCalculating while fare has recorded the trip's end but not priced it. Fare
// knowing nothing of the trip, or a customer asking about another's trip, is NOT_FOUND.
func (s *Service) GetFare(ctx context.Context, c caller.Caller, tripID string) (Fare, FareState, error) {
	if err := ids.Check("trip_id", tripID); err != nil {
		return Fare{}, 0, err
	}
	notFound := errs.Missing(ReasonFareNotFound, "trip %s has no fare, and fare has not seen it end", tripID)
	f, err := s.store.Fare(ctx, tripID)
	switch {
	case err == nil:
		if !c.MayAccess(f.CustomerID) {
			return Fare{}, 0, notFound
		}
		return f, FareStateCalculated, nil
	case errs.KindOf(err) != errs.NotFound:
		return Fare{}, 0, fmt.Errorf("get fare: %w", err)
	}
	customer, calculating, err := s.store.Calculating(ctx, tripID)
	if err != nil {
		return Fare{}, 0, fmt.Errorf("get fare: %w", err)
	}
	if !calculating || !c.MayAccess(customer) {
		return Fare{}, 0, notFound
	}
	return Fare{}, FareStateCalculating, nil
}

// ListFares returns a page of fares, newest first. A customer's list is always their
// own: an empty customer id means the caller, another customer's id is
// PERMISSION_DENIED. Drivers see no fares.
func (s *Service) ListFares(ctx context.Context, c caller.Caller, f FareFilter, pageToken string, pageSize int32) (FarePage, error) {
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return FarePage{}, err
	}
	if f.CustomerID != "" {
		if err := checkCustomerID("customer_id", f.CustomerID); err != nil {
			return FarePage{}, err
		}
	}
	if f.City != "" {
		if err := citycode.Check("city", f.City); err != nil {
			return FarePage{}, err
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return FarePage{}, errs.Invalid("create_time_range", "start must be before end")
	}
	switch {
	case c.Privileged():
	case c.Role == caller.Customer:
		if f.CustomerID == "" {
			f.CustomerID = c.Subject
		} else if f.CustomerID != c.Subject {
			return FarePage{}, errs.Denied("", "a customer may list only their own fares")
		}
	default:
		return FarePage{}, errs.Denied("", "only customers, operators and services may list fares")
	}
	filter := page.Fingerprint("ListFares", f.CustomerID, f.City, f.From, f.To)
	var cur FareCursor
	ok, err := page.Decode(pageToken, filter, &cur)
	if err != nil {
		return FarePage{}, err
	}
	var after *FareCursor
	if ok {
		if cur.TripID == "" || cur.CreateTime.IsZero() {
			return FarePage{}, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
		}
		after = &cur
	}
	fares, err := s.store.ListFares(ctx, f, after, limit+1)
	if err != nil {
		return FarePage{}, fmt.Errorf("list fares: %w", err)
	}
	var p FarePage
	if len(fares) > limit {
		fares = fares[:limit]
		last := fares[limit-1]
		p.NextPageToken = page.Encode(FareCursor{CreateTime: last.CreateTime, TripID: last.TripID}, filter)
	}
	p.Fares = fares
	return p, nil
}
