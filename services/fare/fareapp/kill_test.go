package fareapp_test

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/proctest"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/fare/farepg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestRidesBilledOnceAcrossKills: real fare and billing processes (the waybill binary)
// price and bill a stream of ended trips while each is killed with SIGKILL in the middle
// of it and restarted. In the end every trip has exactly one fare, one
// fare.fare.calculated event and one bill: the consumers' cursors commit with their
// effects, so nothing is lost or applied twice.
func TestRidesBilledOnceAcrossKills(t *testing.T) {
	bin := proctest.Build(t)

	// Trip's stand-in: a real event source (outbox + EventStreamService) in this process.
	trip := grpctest.StartEventSource(t, "trip", []string{"trip.trip.ended", "trip.trip.cancelled"})
	emit := trip.Emit

	url := pgtest.NewURL(t, pgtest.Schemas{"fare": farepg.Migrations, "billing": billingpg.Migrations})
	fareDB, err := pgxutil.Connect(t.Context(), url, pgxutil.PoolConfig{Schema: "fare", ApplicationName: "kill-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fareDB.Close)
	billingDB, err := pgxutil.Connect(t.Context(), url, pgxutil.PoolConfig{Schema: "billing", ApplicationName: "kill-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(billingDB.Close)

	fareAddr, billingAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	fareArgs := []string{"--trip-addr", trip.Addr, "--matching-addr", ""}
	billingArgs := []string{"--fare-addr", fareAddr, "--payment-addr", "", "--account-addr", "",
		"--providers", "ride=trip@127.0.0.1:1"} // no provider calls needed: rides come from fare's events
	fareProc := proctest.Serve(t, bin, "fare", fareAddr, url, fareArgs...)
	billingProc := proctest.Serve(t, bin, "billing", billingAddr, url, billingArgs...)

	ops := farev1.NewFareServiceClient(grpctest.Dial(t, fareAddr, auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	eur := func(a int64) *typev1.Money { return &typev1.Money{AmountMinor: a, CurrencyCode: "EUR"} }
	if _, err := ops.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: &farev1.RateCard{
		ProductKey:   &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: "berlin", Product: "standard"}}},
		CurrencyCode: "EUR",
		Pricing:      &farev1.RateCard_Ride{Ride: &farev1.RidePricing{BaseFare: eur(300), PerKilometer: eur(150), PerMinute: eur(30), MinimumFare: eur(800)}},
	}}); err != nil {
		t.Fatal(err)
	}

	const trips = 60
	requested := time.Now().UTC()
	ended := func(i int) {
		id := ids.New()
		start := requested.Add(time.Minute)
		var route []*tripv1.RoutePoint
		for s := 0; s <= 120; s++ { // 2 minutes north at 10 m/s
			route = append(route, &tripv1.RoutePoint{Point: &typev1.GeoPoint{Latitude: 52.52 + float64(s)*10/111_320, Longitude: 13.405},
				Time: timestamppb.New(start.Add(time.Duration(s) * time.Second))})
		}
		ev := &tripv1.TripEvent{Trip: &tripv1.Trip{Id: id, CustomerId: "rider-" + strconv.Itoa(i%7), City: "berlin", Product: "standard",
			Status: tripv1.TripStatus_TRIP_STATUS_ENDED, Route: route, CreateTime: timestamppb.New(requested),
			StartTime: route[0].GetTime(), EndTime: route[len(route)-1].GetTime(), ActualDropoff: route[len(route)-1].GetPoint()}}
		if err := emit.Run(t.Context(), func(tx *txn.Tx) error {
			tx.Emit(outbox.Event{Type: "trip.trip.ended", Key: id, Payload: ev})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	countFare := func(q string) int {
		var n int
		if err := fareDB.QueryRow(t.Context(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	countBilling := func(q string) int {
		var n int
		if err := billingDB.QueryRow(t.Context(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for i := 0; i < trips; i++ {
		ended(i)
		switch i {
		case trips / 3: // fare dies with events arriving
			fareProc.Kill(t)
		case trips/3 + 5:
			fareProc = proctest.Serve(t, bin, "fare", fareAddr, url, fareArgs...)
		case 2 * trips / 3: // billing dies with fares arriving
			billingProc.Kill(t)
		case 2*trips/3 + 5:
			billingProc = proctest.Serve(t, bin, "billing", billingAddr, url, billingArgs...)
		}
		time.Sleep(20 * time.Millisecond)
	}
	grpctest.Eventually(t, 60*time.Second, "every trip billed", func() bool {
		return countBilling(`SELECT count(*) FROM bill_items`) >= trips
	})
	time.Sleep(500 * time.Millisecond) // anything applied twice would show now
	if n := countFare(`SELECT count(*) FROM ride_fare`); n != trips {
		t.Fatalf("%d fares for %d trips", n, trips)
	}
	if n := countFare(`SELECT count(*) FROM (SELECT key FROM event_log WHERE type = 'fare.fare.calculated' UNION ALL
		SELECT key FROM outbox WHERE type = 'fare.fare.calculated') e`); n != trips {
		t.Fatalf("%d fare.fare.calculated events for %d trips", n, trips)
	}
	if n := countBilling(`SELECT count(*) FROM bills WHERE status = 'finalized'`); n != trips {
		t.Fatalf("%d ride bills for %d trips", n, trips)
	}
	if n := countBilling(`SELECT count(DISTINCT reservation_id) FROM bill_items`); n != trips {
		t.Fatalf("%d distinct rides billed for %d trips", n, trips)
	}
}
