package providerclient

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/billing/billing"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("flight=booking@127.0.0.1:7001, stay=booking@127.0.0.1:7001,ride=trip@h:7003,9=hover@h:7009")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kinds[billing.Kind(reservationv1.Kind_KIND_FLIGHT)] != "booking" || cfg.Kinds[billing.Kind(reservationv1.Kind_KIND_RIDE)] != "trip" ||
		cfg.Kinds[9] != "hover" || len(cfg.Addrs) != 3 || cfg.Addrs["trip"] != "h:7003" {
		t.Fatalf("config = %+v", cfg)
	}
	if got, want := cfg.String(), "flight=booking@127.0.0.1:7001,stay=booking@127.0.0.1:7001,ride=trip@h:7003,9=hover@h:7009"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, bad := range []string{
		"flight=booking",                       // no address
		"plane=booking@h:1",                    // unknown kind name
		"0=booking@h:1",                        // not a kind
		"flight=booking@h:1,flight=other@h:2",  // two providers for a kind
		"flight=booking@h:1,train=booking@h:2", // one provider at two addresses
		"flight=@h:1",                          // no provider name
	} {
		if _, err := ParseConfig(bad); err == nil {
			t.Errorf("ParseConfig(%q) succeeded", bad)
		}
	}
	if cfg, err := ParseConfig(""); err != nil || len(cfg.Kinds) != 0 {
		t.Errorf("empty spec: %v, %v", cfg, err)
	}
}

// TestBreaker drives one provider's breaker through its states with the errors Details
// reports to it. gobreaker runs on the wall clock, so the test sleeps out a cooldown
// long enough that no check races it.
func TestBreaker(t *testing.T) {
	t.Parallel()
	const cooldown = 300 * time.Millisecond
	b := newBreaker("p", BreakerOptions{Failures: 2, Cooldown: cooldown})
	var (
		outage    = status.Error(codes.Unavailable, "provider down")
		refused   = status.Error(codes.NotFound, "no such reservation")
		abandoned = status.Error(codes.Canceled, "the caller gave up")
		malformed = errors.New("provider answered 1 results for 2 ids")
	)
	// call makes one call that ends with err and reports whether the breaker let it out.
	call := func(err error) bool {
		done, open := b.Allow()
		if open != nil {
			return false
		}
		done(err)
		return true
	}
	coolDown := func() { time.Sleep(cooldown + 50*time.Millisecond) }
	// Only consecutive outages count: a success or a refusal (the provider answered)
	// resets the count, an abandoned call neither resets nor adds to it.
	for _, err := range []error{outage, nil, outage, refused, outage, abandoned} {
		if !call(err) {
			t.Fatalf("closed circuit refused a call (before a call ending with %v)", err)
		}
	}
	if circuitOpen(b) {
		t.Fatal("the circuit opened before two consecutive failures")
	}
	if !call(outage) {
		t.Fatal("closed circuit refused a call")
	}
	if call(nil) || !circuitOpen(b) {
		t.Fatal("open circuit let a call through (an abandoned call reset the count?)")
	}
	coolDown()
	done, err := b.Allow()
	if err != nil {
		t.Fatalf("no probe after the cooldown: %v", err)
	}
	if _, err := b.Allow(); err == nil {
		t.Fatal("a second call went through while probing")
	}
	done(outage) // the probe failed: open again
	if call(nil) {
		t.Fatal("circuit closed after a failed probe")
	}
	coolDown()
	if !call(nil) || !call(malformed) {
		t.Fatal("a successful probe did not close the circuit")
	}
	if circuitOpen(b) {
		t.Fatal("one failure after closing opened the circuit")
	}
	if !call(outage) || !circuitOpen(b) {
		t.Fatal("a malformed reply and an outage did not open the circuit")
	}
	// A call the caller abandoned neither closes an open circuit nor uses up its probe.
	coolDown()
	done, err = b.Allow()
	if err != nil {
		t.Fatalf("no probe after the cooldown: %v", err)
	}
	done(abandoned)
	if !circuitOpen(b) {
		t.Fatal("an abandoned probe closed the circuit")
	}
	done, err = b.Allow()
	if err != nil {
		t.Fatal("no new probe after an abandoned one")
	}
	done(nil)
	if circuitOpen(b) {
		t.Fatal("a successful probe after an abandoned one did not close the circuit")
	}
}

func event(t *testing.T, key string, m proto.Message) *eventsv1.Event {
	t.Helper()
	ev := &eventsv1.Event{Key: key, Sequence: 1}
	if m != nil {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		ev.Payload = a
	}
	return ev
}

func TestDecode(t *testing.T) {
	ts := timestamppb.New(time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC))
	eur := &typev1.Money{AmountMinor: 1234, CurrencyCode: "EUR"}
	tests := []struct {
		name   string
		ev     *eventsv1.Event
		action action
		want   billing.Summary
	}{
		{"common envelope", event(t, "r1", &reservationv1.ReservationDetails{Id: "r1", Kind: 9, MainStatus: reservationv1.MainStatus_MAIN_STATUS_CONFIRMED,
			CustomerId: "c", Amount: eur, Title: "T", UpdateTime: ts, Version: 3}), apply,
			billing.Summary{Provider: "p", ReservationID: "r1", Kind: 9, CustomerID: "c", MainStatus: billing.MainStatusConfirmed,
				Amount: money.Money{Amount: 1234, Currency: "EUR"}, Title: "T", UpdateTime: ts.AsTime(), Version: 3}},
		{"booking", event(t, "r2", &bookingv1.ReservationEvent{Reservation: &bookingv1.Reservation{Id: "r2", CustomerId: "c",
			Kind: reservationv1.Kind_KIND_STAY, Status: bookingv1.ReservationStatus_RESERVATION_STATUS_CHECKED_IN, Price: eur, UpdateTime: ts, Version: 4}}), apply,
			billing.Summary{Provider: "p", ReservationID: "r2", Kind: billing.Kind(reservationv1.Kind_KIND_STAY), CustomerID: "c",
				MainStatus: billing.MainStatusInProgress, Amount: money.Money{Amount: 1234, Currency: "EUR"}, UpdateTime: ts.AsTime(), Version: 4}},
		{"trip with final fare", event(t, "r3", &tripv1.TripEvent{Trip: &tripv1.Trip{Id: "r3", CustomerId: "c", Status: tripv1.TripStatus_TRIP_STATUS_ENDED,
			Estimate: &typev1.Money{AmountMinor: 1, CurrencyCode: "EUR"}, FinalFare: eur, UpdateTime: ts, Version: 5}}), apply,
			billing.Summary{Provider: "p", ReservationID: "r3", Kind: billing.Kind(reservationv1.Kind_KIND_RIDE), CustomerID: "c",
				MainStatus: billing.MainStatusCompleted, Amount: money.Money{Amount: 1234, Currency: "EUR"}, UpdateTime: ts.AsTime(), Version: 5}},
		{"booking departure", event(t, "d1", &bookingv1.DepartureEvent{}), ignore, billing.Summary{}},
		{"unknown payload", event(t, "r4", wrapperspb.String("x")), refresh, billing.Summary{ReservationID: "r4"}},
		{"keys only", event(t, "r5", nil), refresh, billing.Summary{ReservationID: "r5"}},
		{"no key", event(t, "", nil), ignore, billing.Summary{}},
	}
	for _, tt := range tests {
		d := decode("p", tt.ev)
		if d.action != tt.action || d.summary != tt.want {
			t.Errorf("%s: decode = %v %+v, want %v %+v", tt.name, d.action, d.summary, tt.action, tt.want)
		}
	}
}

func TestTrackerFreshness(t *testing.T) {
	var tr tracker
	t0 := time.Unix(1000, 0)
	stale := time.Minute
	if f := tr.freshness(t0, stale); f.State != billing.FreshnessStale {
		t.Fatalf("before any message: %v", f)
	}
	tr.received(&eventsv1.SubscribeResponse{Event: &eventsv1.Event{Sequence: 5}}, t0)
	if f := tr.freshness(t0, stale); f.State != billing.FreshnessStale {
		t.Fatalf("behind the head: %v", f)
	}
	tr.applied(5)
	if f := tr.freshness(t0.Add(time.Second), stale); f.State != billing.FreshnessFresh || !f.AsOf.Equal(t0) {
		t.Fatalf("caught up: %v", f)
	}
	tr.received(&eventsv1.SubscribeResponse{Heartbeat: true, Cursor: eventstream.EncodeCursor(5)}, t0.Add(10*time.Second))
	if f := tr.freshness(t0.Add(11*time.Second), stale); !f.AsOf.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("heartbeat did not advance as-of: %v", f)
	}
	if f := tr.freshness(t0.Add(2*time.Minute), stale); f.State != billing.FreshnessStale {
		t.Fatalf("silent for long: %v", f)
	}
	tr.down()
	if f := tr.freshness(t0.Add(11*time.Second), stale); f.State != billing.FreshnessStale {
		t.Fatalf("down: %v", f)
	}
}
