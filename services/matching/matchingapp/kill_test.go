package matchingapp_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/proctest"
	"github.com/waybill/waybill/services/matching/matching"
	"github.com/waybill/waybill/services/matching/matchingpg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// serveMatching starts the binary as `waybill serve matching` on addr and the database
// url, and waits until it reports SERVING (its index rebuilt).
func serveMatching(t *testing.T, bin, addr, url string) *proctest.Process {
	t.Helper()
	return proctest.Serve(t, bin, "matching", addr, url, "--min-offer-timeout", "500ms",
		"--dispatch-poll-interval", "100ms", "--location-flush-interval", "100ms")
}

// TestKilledMidOfferResumes: a real matching process (the waybill binary) is killed with
// SIGKILL while an offer is pending. Nothing moves while it is down; after a restart the
// offer expires at its time (the driver AVAILABLE again), the next attempt offers the
// next driver, and when that offer expires too the match fails ATTEMPTS_EXHAUSTED with
// matching.match.failed: the durable timer lives in the database, not in the process.
func TestKilledMidOfferResumes(t *testing.T) {
	bin := proctest.Build(t)
	url := pgtest.NewURL(t, pgtest.Schemas{"matching": matchingpg.Migrations})
	db, err := pgxutil.Connect(t.Context(), url, pgxutil.PoolConfig{Schema: "matching", ApplicationName: "kill-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	addr := proctest.FreeAddr(t)
	first := serveMatching(t, bin, addr, url)
	conn := grpctest.Dial(t, addr, auth.Identity{Subject: "ops", Role: auth.RoleOperator})
	ops := matchingv1.NewMatchingServiceClient(conn)
	ctx := grpctest.Context(t)

	pickup := &typev1.GeoPoint{Latitude: 52.52, Longitude: 13.405}
	var drivers []string
	for i, meters := range []float64{200, 900} {
		d, err := ops.CreateDriver(ctx, &matchingv1.CreateDriverRequest{Driver: &matchingv1.Driver{
			Name: "Kim", City: "berlin",
			Vehicle: &matchingv1.Vehicle{Plate: "B-K " + strconv.Itoa(i), Model: "Prius", Products: []string{"standard"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		id := d.GetDriver().GetId()
		if _, err := ops.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: id, Online: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := ops.UpdateDriverLocation(ctx, &matchingv1.UpdateDriverLocationRequest{DriverId: id, Location: &matchingv1.LocationUpdate{
			Point: &typev1.GeoPoint{Latitude: pickup.GetLatitude() + meters/111_195, Longitude: pickup.GetLongitude()}, FixTime: timestamppb.Now(),
		}}); err != nil {
			t.Fatal(err)
		}
		drivers = append(drivers, id)
	}
	grpctest.Eventually(t, 10*time.Second, "both locations persisted", func() bool { return count(t, db, "SELECT count(*) FROM driver_location") == 2 })

	const timeout = 3 * time.Second
	created, err := ops.CreateMatch(ctx, &matchingv1.CreateMatchRequest{
		TripId: "trip-kill", Pickup: pickup, Product: "standard", OfferTimeout: durationpb.New(timeout), MaxAttempts: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetMatch().GetId()
	grpctest.Eventually(t, 10*time.Second, "an offer to the nearer driver", func() bool {
		return count(t, db, "SELECT count(*) FROM offer WHERE status = 1 AND driver_id = $1", drivers[0]) == 1
	})
	first.Kill(t)
	killedAt := time.Now()

	// Down for longer than the offer lives: nothing may move meanwhile.
	time.Sleep(timeout + 500*time.Millisecond)
	if n := count(t, db, "SELECT count(*) FROM offer WHERE status = 1 AND driver_id = $1", drivers[0]); n != 1 {
		t.Fatalf("%d pending offers while matching was down", n)
	}

	serveMatching(t, bin, addr, url)
	ops = matchingv1.NewMatchingServiceClient(grpctest.Dial(t, addr, auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	var m *matchingv1.Match
	grpctest.Eventually(t, 20*time.Second, "the second attempt's offer", func() bool {
		resp, err := ops.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: id, View: typev1.View_VIEW_FULL})
		m = resp.GetMatch()
		return err == nil && len(m.GetOffers()) == 2
	})
	if o := m.GetOffers()[0]; o.GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_EXPIRED || o.GetDriverId() != drivers[0] {
		t.Fatalf("the offer pending at the kill is %v", o)
	}
	if o := m.GetOffers()[1]; o.GetDriverId() != drivers[1] || o.GetAttempt() != 2 {
		t.Fatalf("the second attempt's offer is %v", o)
	}
	d, err := ops.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: drivers[0]})
	if err != nil || d.GetDriver().GetStatus() != matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE {
		t.Fatalf("the first driver after the restart: %v, %v", d, err)
	}
	grpctest.Eventually(t, 20*time.Second, "the match FAILED", func() bool {
		resp, err := ops.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: id, View: typev1.View_VIEW_FULL})
		m = resp.GetMatch()
		return err == nil && m.GetStatus() == matchingv1.MatchStatus_MATCH_STATUS_FAILED
	})
	if m.GetFailureReason() != matchingv1.MatchFailureReason_MATCH_FAILURE_REASON_ATTEMPTS_EXHAUSTED || m.GetAttemptCount() != 2 {
		t.Fatalf("failed match %v", m)
	}
	t.Logf("killed at %s; the offer expired at %s, the match failed at %s", killedAt.Format(time.StampMilli),
		m.GetOffers()[0].GetResolveTime().AsTime().Local().Format(time.StampMilli), m.GetUpdateTime().AsTime().Local().Format(time.StampMilli))

	events := eventsv1.NewEventStreamServiceClient(grpctest.Dial(t, addr, auth.Identity{Subject: "trip", Role: auth.RoleService}))
	stream, err := events.Subscribe(ctx, &eventsv1.SubscribeRequest{Service: "matching"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if ev := resp.GetEvent(); ev.GetType() == matching.EventTypeMatchFailed {
			if ev.GetKey() != "trip-kill" {
				t.Fatalf("match.failed key %s", ev.GetKey())
			}
			break
		}
	}
}

func count(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
