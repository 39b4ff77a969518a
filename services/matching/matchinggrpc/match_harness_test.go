package matchinggrpc_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/matching/matchingapp"
)

// matchConfig lets offers be as short as 50 ms and the dispatcher poll every 50 ms, so
// tests run offers out quickly; heartbeats come every 300 ms.
func matchConfig() matchingapp.Config {
	c := testConfig()
	c.MinOfferTimeout = 50 * time.Millisecond
	c.DispatchPoll = 50 * time.Millisecond
	c.OfferHeartbeat = 300 * time.Millisecond
	c.OfferWatchPoll = 100 * time.Millisecond
	return c
}

func startMatching(t testing.TB) *harness {
	t.Helper()
	return startWith(t, matchConfig())
}

// The pickup of the tests: Berlin, Alexanderplatz.
var berlin = &typev1.GeoPoint{Latitude: 52.5219, Longitude: 13.4132}

// north returns the point meters north of p (about: 1° of latitude is 111.2 km).
func north(p *typev1.GeoPoint, meters float64) *typev1.GeoPoint {
	return &typev1.GeoPoint{Latitude: p.GetLatitude() + meters/111_195, Longitude: p.GetLongitude()}
}

// driverAt creates a driver, takes them online and locates them at p now.
func (h *harness) driverAt(t testing.TB, p *typev1.GeoPoint, products ...string) *matchingv1.Driver {
	t.Helper()
	d := h.online(t, products...)
	h.locate(t, d.GetId(), p.GetLatitude(), p.GetLongitude(), time.Now())
	return d
}

// matchReq is a CreateMatch request for a new trip at berlin, offers open for timeout.
func matchReq(timeout time.Duration) *matchingv1.CreateMatchRequest {
	return &matchingv1.CreateMatchRequest{
		TripId: "trip-" + ids.New(), Pickup: berlin, Product: "standard", OfferTimeout: durationpb.New(timeout),
	}
}

func (h *harness) createMatch(t testing.TB, req *matchingv1.CreateMatchRequest) *matchingv1.Match {
	t.Helper()
	resp, err := h.service.CreateMatch(grpctest.Context(t), req)
	if err != nil {
		t.Fatalf("CreateMatch: %v", err)
	}
	return resp.GetMatch()
}

// getMatch returns match id with its offers.
func (h *harness) getMatch(t testing.TB, id string) *matchingv1.Match {
	t.Helper()
	resp, err := h.service.GetMatch(grpctest.Context(t), &matchingv1.GetMatchRequest{MatchId: id, View: typev1.View_VIEW_FULL})
	if err != nil {
		t.Fatalf("GetMatch: %v", err)
	}
	return resp.GetMatch()
}

// waitMatch waits until match id satisfies cond and returns it.
func (h *harness) waitMatch(t testing.TB, id, what string, cond func(*matchingv1.Match) bool) *matchingv1.Match {
	t.Helper()
	var m *matchingv1.Match
	grpctest.Eventually(t, 10*time.Second, what, func() bool {
		m = h.getMatch(t, id)
		return cond(m)
	})
	return m
}

// pending returns the pending offers of m.
func pending(m *matchingv1.Match) []*matchingv1.Offer {
	var out []*matchingv1.Offer
	for _, o := range m.GetOffers() {
		if o.GetStatus() == matchingv1.OfferStatus_OFFER_STATUS_PENDING {
			out = append(out, o)
		}
	}
	return out
}

// waitOffer waits until match id has a pending offer to driver and returns it.
func (h *harness) waitOffer(t testing.TB, id, driver string) *matchingv1.Offer {
	t.Helper()
	var got *matchingv1.Offer
	h.waitMatch(t, id, "an offer to "+driver, func(m *matchingv1.Match) bool {
		for _, o := range pending(m) {
			if o.GetDriverId() == driver {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

func (h *harness) driver(t testing.TB, id string) *matchingv1.Driver {
	t.Helper()
	resp, err := h.operator.GetDriver(grpctest.Context(t), &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil {
		t.Fatalf("GetDriver: %v", err)
	}
	return resp.GetDriver()
}

func (h *harness) wantDriver(t testing.TB, id string, status matchingv1.DriverStatus, matchID string) *matchingv1.Driver {
	t.Helper()
	d := h.driver(t, id)
	if d.GetStatus() != status || d.GetCurrentMatchId() != matchID {
		t.Fatalf("driver %s is %v for match %q, want %v for %q", id, d.GetStatus(), d.GetCurrentMatchId(), status, matchID)
	}
	return d
}

// eventReader reads matching's event stream from the start.
type eventReader struct {
	t      testing.TB
	stream eventsv1.EventStreamService_SubscribeClient
}

func (h *harness) events(t testing.TB) *eventReader {
	t.Helper()
	c := eventsv1.NewEventStreamServiceClient(h.srv.Conn(auth.Identity{Subject: "trip", Role: auth.RoleService}))
	stream, err := c.Subscribe(grpctest.Context(t), &eventsv1.SubscribeRequest{Service: "matching"})
	if err != nil {
		t.Fatal(err)
	}
	return &eventReader{t: t, stream: stream}
}

// next returns the payload of the next event of type typ (others skipped), after
// checking its key.
func (r *eventReader) next(typ, key string, payload proto.Message) {
	r.t.Helper()
	if got := r.nextAny(typ, payload); got != key {
		r.t.Fatalf("event %s has key %s, want %s", typ, got, key)
	}
}

// nextAny returns the key and payload of the next event of type typ (others skipped).
func (r *eventReader) nextAny(typ string, payload proto.Message) string {
	r.t.Helper()
	for {
		resp, err := r.stream.Recv()
		if err != nil {
			r.t.Fatalf("Subscribe: %v", err)
		}
		ev := resp.GetEvent()
		if ev == nil || ev.GetType() != typ {
			continue
		}
		if err := ev.GetPayload().UnmarshalTo(payload); err != nil {
			r.t.Fatal(err)
		}
		return ev.GetKey()
	}
}

// countEvents counts the events of type typ written so far, sequenced or not.
func (h *harness) countEvents(t testing.TB, typ string) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM event_log WHERE type = $1) +
		(SELECT count(*) FROM outbox WHERE type = $1)`, typ).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
