package faregrpc_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/fareapp"
	"github.com/waybill/waybill/services/matching/matchingapp"
)

// source is a real event source standing in for another service of the mesh (trip,
// matching): a gRPC server with its own database, outbox log and EventStreamService, as
// kit/serve runs a service's, whose events the test writes with kit/txn. Fare subscribes
// to it over gRPC exactly as to the real service.
type source struct {
	addr string
	pool *pgxpool.Pool
	tx   *txn.Runner
}

func startSource(t *testing.T, name string, types ...string) *source {
	t.Helper()
	s := grpctest.StartEventSource(t, name, types)
	return &source{addr: s.Addr, pool: s.Pool, tx: s.Emit}
}

func (s *source) emit(t *testing.T, typ, key string, payload proto.Message) {
	t.Helper()
	if err := s.tx.Run(t.Context(), func(tx *txn.Tx) error {
		tx.Emit(outbox.Event{Type: typ, Key: key, Payload: payload})
		return nil
	}); err != nil {
		t.Fatalf("emit %s: %v", typ, err)
	}
}

// rides is fare consuming a test trip source and a test matching source.
type rides struct {
	*harness
	trip, matching *source
}

func startRides(t *testing.T) *rides {
	t.Helper()
	trip := startSource(t, "trip", "trip.trip.ended", "trip.trip.cancelled")
	matching := startSource(t, "matching", "matching.zone.supply_demand")
	c := fareapp.DefaultConfig()
	c.TripAddr, c.MatchingAddr = trip.addr, matching.addr
	c.RetryInterval = 100 * time.Millisecond
	c.Reconnect = consumer.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}
	return &rides{harness: startWith(t, c), trip: trip, matching: matching}
}

// route returns a route driven from from along legs (meters north, east), a point every
// second at 10 m/s, starting at start.
func route(from *typev1.GeoPoint, start time.Time, legs ...[2]float64) []*tripv1.RoutePoint {
	const perDegree = 111_320.0
	lat, lng, tm := from.GetLatitude(), from.GetLongitude(), start
	out := []*tripv1.RoutePoint{{Point: &typev1.GeoPoint{Latitude: lat, Longitude: lng}, Time: timestamp(tm)}}
	for _, leg := range legs {
		steps := int(math.Ceil(math.Hypot(leg[0], leg[1]) / 10))
		fromLat, fromLng := lat, lng
		for i := 1; i <= steps; i++ {
			f := float64(i) / float64(steps)
			tm = tm.Add(time.Second)
			lat = fromLat + leg[0]*f/perDegree
			lng = fromLng + leg[1]*f/(perDegree*math.Cos(fromLat*math.Pi/180))
			out = append(out, &tripv1.RoutePoint{Point: &typev1.GeoPoint{Latitude: lat, Longitude: lng}, Time: timestamp(tm)})
		}
	}
	return out
}

// endedTrip is trip's trip.trip.ended payload of a ride along r.
func endedTrip(id, customer, product, quoteID string, requested time.Time, r []*tripv1.RoutePoint) *tripv1.TripEvent {
	last := r[len(r)-1]
	return &tripv1.TripEvent{PreviousStatus: tripv1.TripStatus_TRIP_STATUS_STARTED, Trip: &tripv1.Trip{
		Id: id, CustomerId: customer, City: "berlin", Product: product, QuoteId: quoteID,
		Pickup: alexanderplatz, Dropoff: last.GetPoint(), ActualDropoff: last.GetPoint(),
		Status: tripv1.TripStatus_TRIP_STATUS_ENDED, Route: r, LastRoutePoint: last,
		DistanceMeters: 99_999, DurationSeconds: 1, // the trip's own figures: fare must not use them for a dense route
		CreateTime: timestamp(requested), AssignTime: timestamp(requested.Add(time.Minute)),
		StartTime: r[0].GetTime(), EndTime: last.GetTime(), Version: 5,
	}}
}

// waitFare waits until GetFare answers CALCULATED for trip id and returns the fare.
func (h *harness) waitFare(t *testing.T, id string) *farev1.Fare {
	t.Helper()
	var f *farev1.Fare
	grpctest.Eventually(t, 15*time.Second, "the fare of trip "+id, func() bool {
		resp, err := h.service.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: id})
		if err == nil && resp.GetState() == farev1.FareState_FARE_STATE_CALCULATED {
			f = resp.GetFare()
			return true
		}
		return false
	})
	return f
}

// fareEvents returns the fare.fare.calculated events fare emitted, oldest first.
func (h *harness) fareEvents(t *testing.T) []*farev1.FareEvent {
	t.Helper()
	rows, err := h.pool.Query(t.Context(), `SELECT payload_type, payload FROM (
		SELECT 0 AS part, seq AS n, type, payload_type, payload FROM event_log
		UNION ALL SELECT 1, id, type, payload_type, payload FROM outbox) e
		WHERE type = 'fare.fare.calculated' ORDER BY part, n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*farev1.FareEvent
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(typ, "/") {
			typ = "type.googleapis.com/" + typ
		}
		var ev farev1.FareEvent
		if err := (&anypb.Any{TypeUrl: typ, Value: payload}).UnmarshalTo(&ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

// recordOf is what fare reads of a trip event, for recomputing a fare in the test.
func recordOf(t *testing.T, ev *tripv1.TripEvent) fare.TripRecord {
	t.Helper()
	var rec fare.TripRecord
	tr := ev.GetTrip()
	rec.StartTime, rec.EndTime = tr.GetStartTime().AsTime(), tr.GetEndTime().AsTime()
	for _, p := range tr.GetRoute() {
		rec.Route = append(rec.Route, fare.RoutePoint{Point: fare.GeoPoint{Latitude: p.GetPoint().GetLatitude(), Longitude: p.GetPoint().GetLongitude()}, Time: p.GetTime().AsTime()})
	}
	return rec
}

// TestFareFromTripEnded follows a ride from its quote to its fare: the fare comes from
// trip's trip.trip.ended event (the route actually driven, the trip's own timestamps),
// honours the surge locked in the quote although the surge changed before the ride
// ended, equals a recomputation from the stored route and breakdown, is emitted once as
// fare.fare.calculated, and a repeated event changes nothing.
func TestFareFromTripEnded(t *testing.T) {
	t.Parallel()
	h := startRides(t)
	card := h.create(t, rideCard())
	surgeEnds := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "alex", MultiplierBps: 15000, Center: alexanderplatz, RadiusMeters: 2000, ExpireTime: timestamp(surgeEnds)})
	q, err := h.service.QuoteRide(grpctest.Context(t), rideQuote(alexanderplatz))
	if err != nil {
		t.Fatal(err)
	}
	if q.GetQuote().GetMultiplierBps() != 15000 || !q.GetQuote().GetSurgeExpireTime().AsTime().Equal(surgeEnds) {
		t.Fatalf("quote multiplier %d until %v, want the 1.5x surge until %v", q.GetQuote().GetMultiplierBps(), q.GetQuote().GetSurgeExpireTime(), surgeEnds)
	}
	// The surge rises before the ride ends: the quote's 1.5x still applies.
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "alex", MultiplierBps: 25000, Center: alexanderplatz, RadiusMeters: 2000})

	requested := time.Now().Add(-20 * time.Minute).UTC()
	start := requested.Add(3 * time.Minute)
	detour := route(alexanderplatz, start, [2]float64{1500, 0}, [2]float64{0, 1000}, [2]float64{1500, 0}, [2]float64{0, -1000})
	trip := ids.New()
	ev := endedTrip(trip, "cust-1", "standard", q.GetQuote().GetId(), requested, detour)
	ev.Trip.CreateTime = q.GetQuote().GetCreateTime() // requested when quoted
	h.trip.emit(t, "trip.trip.ended", trip, ev)

	f := h.waitFare(t, trip)
	rec := recordOf(t, ev)
	m := fare.MeasureRoute(rec)
	if f.GetDistanceSource() != "route" || f.GetDistanceMeters() != m.Meters || math.Abs(float64(m.Meters)-5000) > 50 {
		t.Fatalf("fare distance %d (%s), want the route's %d ≈ 5000", f.GetDistanceMeters(), f.GetDistanceSource(), m.Meters)
	}
	if f.GetDurationSeconds() != int64(rec.EndTime.Sub(rec.StartTime)/time.Second) {
		t.Fatalf("fare duration %d, want end − start", f.GetDurationSeconds())
	}
	if f.GetSurgeMultiplierBps() != 15000 || f.GetQuoteId() != q.GetQuote().GetId() || f.GetRateCardId() != card.GetId() || f.GetRateVersion() != 1 {
		t.Fatalf("fare %v: want the quote's 1.5x surge and rate version 1", f)
	}
	// Recompute from the stored breakdown: the card's version, distance, duration, surge.
	stored := fare.RateCard{ID: card.GetId(), Version: 1, Currency: "EUR",
		Ride:    &fare.RidePricing{BaseFare: money.New(300, "EUR"), PerKilometer: money.New(150, "EUR"), PerMinute: money.New(30, "EUR"), MinimumFare: money.New(800, "EUR")},
		Dynamic: &fare.DynamicPricing{MinMultiplierBps: 10000, MaxMultiplierBps: 30000}}
	want := fare.PriceRide(stored, f.GetDistanceMeters(), f.GetDurationSeconds(), f.GetSurgeMultiplierBps())
	var sum int64
	for _, l := range f.GetLines() {
		sum += l.GetAmount().GetAmountMinor()
	}
	if f.GetTotal().GetAmountMinor() != want.Total || sum != want.Total || f.GetTotal().GetCurrencyCode() != "EUR" || f.GetCustomerId() != "cust-1" {
		t.Fatalf("fare total %v, lines sum %d; recomputed %d", f.GetTotal(), sum, want.Total)
	}

	// The event, once; a repeated trip event (a redelivery, or trip emitting twice) changes nothing.
	h.trip.emit(t, "trip.trip.ended", trip, ev)
	grpctest.Eventually(t, 10*time.Second, "the fare's event", func() bool { return len(h.fareEvents(t)) >= 1 })
	other := ids.New()
	h.trip.emit(t, "trip.trip.ended", other, endedTrip(other, "cust-2", "standard", "", requested, route(alexanderplatz, start, [2]float64{0, 2000})))
	h.waitFare(t, other) // the redelivered event was applied before this one
	evs := h.fareEvents(t)
	if len(evs) != 2 || evs[0].GetFare().GetTripId() != trip || !proto.Equal(evs[0].GetFare(), f) {
		t.Fatalf("fare events %v, want one per trip, the first equal to GetFare's", evs)
	}
	if n := h.count(t, "ride_fare"); n != 2 {
		t.Fatalf("%d fares stored, want 2", n)
	}

	// Only its rider (and privileged callers) see a fare.
	_, err = h.customer.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: other})
	grpctest.WantReason(t, err, codes.NotFound, fare.ReasonFareNotFound)
	if resp, err := h.customer.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: trip}); err != nil || resp.GetFare().GetTripId() != trip {
		t.Fatalf("the rider's GetFare: %v, %v", resp, err)
	}
	_, err = h.driver.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: trip})
	grpctest.WantReason(t, err, codes.NotFound, fare.ReasonFareNotFound)
	_, err = h.driver.ListFares(grpctest.Context(t), &farev1.ListFaresRequest{})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.anon.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: trip})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	list, err := h.customer.ListFares(grpctest.Context(t), &farev1.ListFaresRequest{})
	if err != nil || len(list.GetFares()) != 1 || list.GetFares()[0].GetTripId() != trip {
		t.Fatalf("the rider's ListFares: %v, %v", list, err)
	}
	page1, err := h.operator.ListFares(grpctest.Context(t), &farev1.ListFaresRequest{PageSize: 1})
	if err != nil || len(page1.GetFares()) != 1 || page1.GetFares()[0].GetTripId() != other || page1.GetNextPageToken() == "" {
		t.Fatalf("operator's first page: %v, %v", page1, err)
	}
	page2, err := h.operator.ListFares(grpctest.Context(t), &farev1.ListFaresRequest{PageSize: 1, PageToken: page1.GetNextPageToken()})
	if err != nil || len(page2.GetFares()) != 1 || page2.GetFares()[0].GetTripId() != trip || page2.GetNextPageToken() != "" {
		t.Fatalf("operator's second page: %v, %v", page2, err)
	}
}

// TestCalculatingFareWindow shows the "calculating fare" window as a state: a trip whose
// end fare recorded but cannot price yet (no rate card prices its product) is
// CALCULATING, not an error, until it is priced; a trip fare never saw end is NOT_FOUND.
func TestCalculatingFareWindow(t *testing.T) {
	t.Parallel()
	h := startRides(t)
	trip := ids.New()
	requested := time.Now().Add(-15 * time.Minute).UTC()
	h.trip.emit(t, "trip.trip.ended", trip, endedTrip(trip, "cust-1", "xl", "", requested,
		route(alexanderplatz, requested.Add(2*time.Minute), [2]float64{2000, 0})))

	grpctest.Eventually(t, 15*time.Second, "the trip to be calculating", func() bool {
		resp, err := h.customer.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: trip})
		return err == nil && resp.GetState() == farev1.FareState_FARE_STATE_CALCULATING && resp.GetFare() == nil
	})
	_, err := h.anotherCustomer(t).GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: trip})
	grpctest.WantReason(t, err, codes.NotFound, fare.ReasonFareNotFound)
	_, err = h.customer.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: ids.New()})
	grpctest.WantReason(t, err, codes.NotFound, fare.ReasonFareNotFound)

	// A card for the product appears: the retry prices the trip with its first version.
	xl := rideCard()
	xl.ProductKey = &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: "berlin", Product: "xl"}}}
	card := h.create(t, xl)
	f := h.waitFare(t, trip)
	if f.GetRateCardId() != card.GetId() || f.GetTotal().GetAmountMinor() <= 0 {
		t.Fatalf("fare after the window %v", f)
	}
}

func (h *harness) anotherCustomer(t *testing.T) farev1.FareServiceClient {
	t.Helper()
	return farev1.NewFareServiceClient(grpctest.Dial(t, h.addr, auth.Identity{Subject: "cust-9", Role: auth.RoleCustomer}))
}

// TestCancellationFee: a cancelled trip whose sub-status says a fee is due gets a fare
// of the card's minimum fare; any other cancellation gets nothing.
func TestCancellationFee(t *testing.T) {
	t.Parallel()
	h := startRides(t)
	h.create(t, rideCard())
	requested := time.Now().Add(-10 * time.Minute).UTC()
	cancelled := func(id, subStatus string) *tripv1.TripEvent {
		return &tripv1.TripEvent{PreviousStatus: tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED, Trip: &tripv1.Trip{
			Id: id, CustomerId: "cust-1", City: "berlin", Product: "standard", Pickup: alexanderplatz, Dropoff: spandau,
			Status: tripv1.TripStatus_TRIP_STATUS_CANCELLED, SubStatus: subStatus,
			CreateTime: timestamp(requested), AssignTime: timestamp(requested.Add(time.Minute)),
			Cancellation: &tripv1.TripCancellation{Actor: tripv1.CancellationActor_CANCELLATION_ACTOR_RIDER, Reason: "changed_mind",
				CancelTime: timestamp(requested.Add(5 * time.Minute))},
		}}
	}
	free, due := ids.New(), ids.New()
	h.trip.emit(t, "trip.trip.cancelled", free, cancelled(free, ""))
	h.trip.emit(t, "trip.trip.cancelled", due, cancelled(due, "cancellation_fee_due"))
	f := h.waitFare(t, due)
	if f.GetTotal().GetAmountMinor() != 800 || len(f.GetLines()) != 1 || f.GetLines()[0].GetCode() != "cancellation_fee" || f.GetDistanceSource() != "none" {
		t.Fatalf("cancellation fee %v", f)
	}
	_, err := h.service.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: free})
	grpctest.WantCode(t, err, codes.NotFound)
}

// TestSurgeFromZoneEvents: matching's supply/demand of the pickup's S2 cell sets the
// automatic surge QuoteRide uses (and GetSurge shows); an operator's zone overrides it;
// a pickup in another cell is not affected.
func TestSurgeFromZoneEvents(t *testing.T) {
	t.Parallel()
	h := startRides(t)
	h.create(t, rideCard())
	zone := fare.ZoneOf(fare.GeoPoint{Latitude: alexanderplatz.GetLatitude(), Longitude: alexanderplatz.GetLongitude()})
	counts := func(drivers, requests int32) {
		h.matching.emit(t, "matching.zone.supply_demand", zone, &matchingv1.ZoneSupplyDemandEvent{
			Zone: zone, Center: alexanderplatz, AvailableDrivers: drivers, OpenRequests: requests, AsOf: timestamp(time.Now())})
	}
	quote := func(pickup *typev1.GeoPoint) *farev1.Quote {
		t.Helper()
		resp, err := h.customer.QuoteRide(grpctest.Context(t), rideQuote(pickup))
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetQuote()
	}
	counts(2, 8) // 4 requests per driver: 1.0 + 0.5 × 3 = 2.5x
	grpctest.Eventually(t, 15*time.Second, "the automatic surge", func() bool { return quote(alexanderplatz).GetMultiplierBps() == 25000 })
	if q := quote(alexanderplatz); q.GetSurgeZone() != "s2-"+zone {
		t.Fatalf("quote's zone %q, want s2-%s", q.GetSurgeZone(), zone)
	}
	got, err := h.customer.GetSurge(grpctest.Context(t), &farev1.GetSurgeRequest{City: "berlin", Zone: "s2-" + zone})
	if err != nil || got.GetSurge().GetMultiplierBps() != 25000 || got.GetSurge().GetActor() != "fare" || !strings.Contains(got.GetSurge().GetReason(), "8 open requests") {
		t.Fatalf("GetSurge of the cell: %v, %v", got, err)
	}
	if q := quote(spandau); q.GetMultiplierBps() != 10000 {
		t.Fatalf("another cell's pickup got %d bps", q.GetMultiplierBps())
	}

	// Demand falls: smoothed (half-life 20 s), the multiplier comes down step by step, not
	// at once.
	counts(10, 0)
	grpctest.Eventually(t, 15*time.Second, "the surge to fall", func() bool { return quote(alexanderplatz).GetMultiplierBps() < 25000 })
	if m := quote(alexanderplatz).GetMultiplierBps(); m == 10000 {
		t.Fatalf("one quiet count dropped the surge straight to 1.0x")
	}

	// An operator's zone at the pickup overrides the automatic surge.
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "alex", MultiplierBps: 12000, Center: alexanderplatz, RadiusMeters: 300})
	if q := quote(alexanderplatz); q.GetMultiplierBps() != 12000 || q.GetSurgeZone() != "alex" {
		t.Fatalf("with an operator zone: %d bps in %q", q.GetMultiplierBps(), q.GetSurgeZone())
	}
}

func calculateReq(trip string, quoteID string) *farev1.CalculateRideFareRequest {
	return &farev1.CalculateRideFareRequest{TripId: trip, CustomerId: "cust-1", City: "berlin", Product: "standard",
		DistanceMeters: 12345, DurationSeconds: 1050, RequestTime: timestamp(time.Now().Add(-time.Minute)), QuoteId: quoteID}
}

// TestCalculateRideFare: services and operators calculate a fare from a record they
// give; the quote's surge applies; a repeat with the same inputs returns the same fare,
// other inputs fail with ALREADY_EXISTS; customers and drivers are refused.
func TestCalculateRideFare(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, rideCard())
	h.setSurge(t, &farev1.Surge{City: "berlin", Zone: "default", MultiplierBps: 20000})
	q, err := h.service.QuoteRide(grpctest.Context(t), rideQuote(alexanderplatz))
	if err != nil {
		t.Fatal(err)
	}
	trip := ids.New()
	req := calculateReq(trip, q.GetQuote().GetId())
	req.RequestTime = q.GetQuote().GetCreateTime()
	resp, err := h.service.CalculateRideFare(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	f := resp.GetFare()
	// 300 + 1852 + 525 = 2677, × 2.0 = 5354.
	if f.GetTotal().GetAmountMinor() != 5354 || f.GetSurgeMultiplierBps() != 20000 || f.GetDistanceSource() != "request" || f.GetVersion() != 1 {
		t.Fatalf("fare %v, want 5354 at 2.0x", f)
	}
	again, err := h.operator.CalculateRideFare(grpctest.Context(t), req)
	if err != nil || !proto.Equal(again.GetFare(), f) {
		t.Fatalf("repeat: %v, %v", again, err)
	}
	req.RequestId = "calc-1"
	if _, err := h.service.CalculateRideFare(grpctest.Context(t), req); err != nil {
		t.Fatal(err)
	}
	other := proto.Clone(req).(*farev1.CalculateRideFareRequest)
	other.DistanceMeters = 1
	other.RequestId = ""
	_, err = h.service.CalculateRideFare(grpctest.Context(t), other)
	grpctest.WantReason(t, err, codes.AlreadyExists, fare.ReasonFareInputsDiffer)
	other.RequestId = "calc-1" // the same request id with other inputs
	_, err = h.service.CalculateRideFare(grpctest.Context(t), other)
	grpctest.WantField(t, err, "request_id")

	// A quote of another product locks nothing: the card in effect and no surge.
	noLock := calculateReq(ids.New(), q.GetQuote().GetId())
	noLock.Product = "xl"
	xl := rideCard()
	xl.ProductKey = &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: "berlin", Product: "xl"}}}
	h.create(t, xl)
	noLock.RequestTime = timestamp(time.Now())
	if resp, err := h.service.CalculateRideFare(grpctest.Context(t), noLock); err != nil || resp.GetFare().GetSurgeMultiplierBps() != 10000 || resp.GetFare().GetQuoteId() != "" {
		t.Fatalf("another product's quote: %v, %v", resp, err)
	}
	before := calculateReq(ids.New(), "")
	before.RequestTime = timestamp(time.Now().Add(-24 * time.Hour)) // no card was in effect
	_, err = h.service.CalculateRideFare(grpctest.Context(t), before)
	grpctest.WantCode(t, err, codes.NotFound)

	for _, c := range []farev1.FareServiceClient{h.customer, h.driver} {
		_, err := c.CalculateRideFare(grpctest.Context(t), calculateReq(ids.New(), ""))
		grpctest.WantCode(t, err, codes.PermissionDenied)
	}
	_, err = h.anon.CalculateRideFare(grpctest.Context(t), calculateReq(ids.New(), ""))
	grpctest.WantCode(t, err, codes.Unauthenticated)
	if n := len(h.fareEvents(t)); n < 1 || h.count(t, "ride_fare") != n {
		t.Fatalf("%d fares and %d events", h.count(t, "ride_fare"), n)
	}
}

// TestRideFaresBadInput: every ride fare RPC names the bad field with INVALID_ARGUMENT and
// writes nothing.
func TestRideFaresBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, rideCard())
	mod := func(f func(r *farev1.CalculateRideFareRequest)) *farev1.CalculateRideFareRequest {
		r := calculateReq(ids.New(), "")
		f(r)
		return r
	}
	for _, tc := range []struct {
		name  string
		req   *farev1.CalculateRideFareRequest
		field string
	}{
		{"no trip id", mod(func(r *farev1.CalculateRideFareRequest) { r.TripId = "" }), "trip_id"},
		{"malformed trip id", mod(func(r *farev1.CalculateRideFareRequest) { r.TripId = "trip-1" }), "trip_id"},
		{"no customer", mod(func(r *farev1.CalculateRideFareRequest) { r.CustomerId = "" }), "customer_id"},
		{"customer with spaces", mod(func(r *farev1.CalculateRideFareRequest) { r.CustomerId = "a b" }), "customer_id"},
		{"no city", mod(func(r *farev1.CalculateRideFareRequest) { r.City = "" }), "city"},
		{"bad city", mod(func(r *farev1.CalculateRideFareRequest) { r.City = "Berlin!" }), "city"},
		{"no product", mod(func(r *farev1.CalculateRideFareRequest) { r.Product = "" }), "product"},
		{"negative distance", mod(func(r *farev1.CalculateRideFareRequest) { r.DistanceMeters = -1 }), "distance_meters"},
		{"huge distance", mod(func(r *farev1.CalculateRideFareRequest) { r.DistanceMeters = 1_000_001 }), "distance_meters"},
		{"negative duration", mod(func(r *farev1.CalculateRideFareRequest) { r.DurationSeconds = -1 }), "duration_seconds"},
		{"over a day", mod(func(r *farev1.CalculateRideFareRequest) { r.DurationSeconds = 86_401 }), "duration_seconds"},
		{"no request time", mod(func(r *farev1.CalculateRideFareRequest) { r.RequestTime = nil }), "request_time"},
		{"future request time", mod(func(r *farev1.CalculateRideFareRequest) { r.RequestTime = timestamp(time.Now().Add(time.Hour)) }), "request_time"},
		{"malformed quote id", mod(func(r *farev1.CalculateRideFareRequest) { r.QuoteId = "q1" }), "quote_id"},
		{"unknown quote", mod(func(r *farev1.CalculateRideFareRequest) { r.QuoteId = ids.New() }), "quote_id"},
		{"request id too long", mod(func(r *farev1.CalculateRideFareRequest) { r.RequestId = strings.Repeat("x", 129) }), "request_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.service.CalculateRideFare(grpctest.Context(t), tc.req)
			grpctest.WantField(t, err, tc.field)
		})
	}
	_, err := h.customer.GetFare(grpctest.Context(t), &farev1.GetFareRequest{})
	grpctest.WantField(t, err, "trip_id")
	_, err = h.customer.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: "nope"})
	grpctest.WantField(t, err, "trip_id")
	for _, tc := range []struct {
		name  string
		req   *farev1.ListFaresRequest
		field string
	}{
		{"negative page size", &farev1.ListFaresRequest{PageSize: -1}, "page_size"},
		{"malformed token", &farev1.ListFaresRequest{PageToken: "garbage"}, "page_token"},
		{"bad city", &farev1.ListFaresRequest{City: "NOT A CITY"}, "city"},
		{"empty range", &farev1.ListFaresRequest{CreateTimeRange: &typev1.TimeRange{StartTime: timestamp(time.Now()), EndTime: timestamp(time.Now().Add(-time.Hour))}}, "create_time_range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.operator.ListFares(grpctest.Context(t), tc.req)
			grpctest.WantField(t, err, tc.field)
		})
	}
	_, err = h.customer.ListFares(grpctest.Context(t), &farev1.ListFaresRequest{CustomerId: "cust-2"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if n := h.count(t, "ride_fare"); n != 0 {
		t.Fatalf("%d fares stored by bad requests, want 0", n)
	}
	if n := len(h.fareEvents(t)); n != 0 {
		t.Fatalf("%d fare events emitted by bad requests, want 0", n)
	}
}

// TestUnreadableTripEventIsParked: a trip event fare cannot use (a record without a
// city) is parked in fare's dead-letter queue, visible to operators, and the stream
// moves on: the next trip is priced.
func TestUnreadableTripEventIsParked(t *testing.T) {
	t.Parallel()
	h := startRides(t)
	h.create(t, rideCard())
	requested := time.Now().Add(-10 * time.Minute).UTC()
	bad, good := ids.New(), ids.New()
	ev := endedTrip(bad, "cust-1", "standard", "", requested, route(alexanderplatz, requested.Add(time.Minute), [2]float64{1000, 0}))
	ev.Trip.City = ""
	h.trip.emit(t, "trip.trip.ended", bad, ev)
	h.trip.emit(t, "trip.trip.ended", good, endedTrip(good, "cust-1", "standard", "", requested,
		route(alexanderplatz, requested.Add(time.Minute), [2]float64{1000, 0})))
	h.waitFare(t, good)
	admin := eventsv1.NewConsumerAdminServiceClient(grpctest.Dial(t, h.addr, auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	resp, err := admin.ListParkedEvents(grpctest.Context(t), &eventsv1.ListParkedEventsRequest{Service: "fare", Consumer: fareapp.TripsConsumer})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetParkedEvents()) != 1 || resp.GetParkedEvents()[0].GetEvent().GetKey() != bad || !strings.Contains(resp.GetParkedEvents()[0].GetError(), "city") {
		t.Fatalf("parked events %v, want the trip without a city", resp.GetParkedEvents())
	}
	_, err = h.service.GetFare(grpctest.Context(t), &farev1.GetFareRequest{TripId: bad})
	grpctest.WantCode(t, err, codes.NotFound)
}

// TestConcurrentCalculateRideFare: concurrent calls for one trip with the same inputs
// store one fare and emit one event, and all return it.
func TestConcurrentCalculateRideFare(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create(t, rideCard())
	req := calculateReq(ids.New(), "")
	req.RequestTime = timestamp(time.Now()) // the card is in effect from its creation
	const n = 8
	out := make(chan *farev1.Fare, n)
	errc := make(chan error, n)
	for range n {
		go func() {
			resp, err := h.service.CalculateRideFare(grpctest.Context(t), req)
			out <- resp.GetFare()
			errc <- err
		}()
	}
	var first *farev1.Fare
	for range n {
		f, err := <-out, <-errc
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = f
		} else if !proto.Equal(first, f) {
			t.Fatalf("concurrent calls returned %v and %v", first, f)
		}
	}
	if got := h.count(t, "ride_fare"); got != 1 || len(h.fareEvents(t)) != 1 {
		t.Fatalf("%d fares, %d events; want 1 and 1", got, len(h.fareEvents(t)))
	}
}

// TestSurgeFromRealMatching: the real matching service's zone events drive the surge.
// Three ride requests wait in one S2 cell with no driver near: matching counts 3 open
// requests and 0 available drivers there and emits matching.zone.supply_demand; fare
// derives a surge for the cell, and QuoteRide at a pickup in it shows it. (Matching may
// count the cell between the three requests, and fare smooths the ratio over time, so
// the test asks for a surge above 1.0x, not a given step: TestNextZoneSurge checks the
// function's values.)
func TestSurgeFromRealMatching(t *testing.T) {
	t.Parallel()
	mc := matchingapp.DefaultConfig()
	mc.ZoneInterval, mc.FlushInterval, mc.DispatchPoll = 200*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	ms := matchingapp.Spec()
	ms.Register = func(ctx context.Context, d serve.Deps) error { return matchingapp.Register(ctx, d, mc) }
	matching := grpctest.Start(t, ms)
	c := fareapp.DefaultConfig()
	c.TripAddr, c.MatchingAddr = "", matching.Addr
	c.Reconnect = consumer.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}
	h := startWith(t, c)
	h.create(t, rideCard())

	matches := matchingv1.NewMatchingServiceClient(matching.Conn(auth.Identity{Subject: "trip", Role: auth.RoleService}))
	for range 3 {
		if _, err := matches.CreateMatch(grpctest.Context(t), &matchingv1.CreateMatchRequest{TripId: ids.New(), Pickup: alexanderplatz,
			Product: "standard", OfferTimeout: durationpb.New(10 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	zone := "s2-" + fare.ZoneOf(fare.GeoPoint{Latitude: alexanderplatz.GetLatitude(), Longitude: alexanderplatz.GetLongitude()})
	var q *farev1.Quote
	grpctest.Eventually(t, 30*time.Second, "a surge from matching's counts", func() bool {
		resp, err := h.customer.QuoteRide(grpctest.Context(t), rideQuote(alexanderplatz))
		if err != nil {
			t.Fatal(err)
		}
		q = resp.GetQuote()
		return q.GetSurgeZone() == zone && q.GetMultiplierBps() > 10000
	})
	if m := q.GetMultiplierBps(); m > 20000 {
		t.Fatalf("quote in a cell with at most 3 requests and no driver: %d bps, want at most 20000", m)
	}
}
