package tripgrpc_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/trip/tripapp"
)

// published counts the trips a reader could see, and the trip events logged.
func (m *mesh) published(t testing.TB) (trips, events int) {
	t.Helper()
	ctx := grpctest.Context(t)
	if err := m.trip.Pool.QueryRow(ctx, "SELECT count(*) FROM trip WHERE published").Scan(&trips); err != nil {
		t.Fatal(err)
	}
	if err := m.trip.Pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM event_log)").Scan(&events); err != nil {
		t.Fatal(err)
	}
	return trips, events
}

// TestUnpaidRideBlocksRequests: a rider whose ride is on a finalized, unpaid bill
// (billing reports BLOCKED) is refused with FAILED_PRECONDITION,
// CUSTOMER_NOT_IN_GOOD_STANDING, and nothing is written; once the bill is off their
// account they may ride again.
func TestUnpaidRideBlocksRequests(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	tr, d := m.assigned(t, "rider-owes")
	drv := m.as(driverID(d))
	if _, err := drv.StartTrip(ctx, &tripv1.StartTripRequest{TripId: tr.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.EndTrip(ctx, &tripv1.EndTripRequest{TripId: tr.GetId(), Dropoff: potsdamerPlatz}); err != nil {
		t.Fatal(err)
	}
	bills := m.billingAs(operator)
	standing := func() *billingv1.AccountStanding {
		resp, err := bills.GetAccountStanding(ctx, &billingv1.GetAccountStandingRequest{CustomerId: "rider-owes"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStanding()
	}
	time.Sleep(500 * time.Millisecond) // billing may bill the ride on its own (fare.calculated)
	if standing().GetStanding() != billingv1.Standing_STANDING_BLOCKED {
		bill, err := bills.CreateBill(ctx, &billingv1.CreateBillRequest{CustomerId: "rider-owes", CurrencyCode: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bills.AddBillItem(ctx, &billingv1.AddBillItemRequest{BillId: bill.GetBill().GetId(), Kind: reservationv1.Kind_KIND_RIDE, ReservationId: tr.GetId()}); err != nil {
			t.Fatalf("AddBillItem: %v", err)
		}
		if _, err := bills.FinalizeBill(ctx, &billingv1.FinalizeBillRequest{BillId: bill.GetBill().GetId()}); err != nil {
			t.Fatalf("FinalizeBill: %v", err)
		}
	}
	var st *billingv1.AccountStanding
	grpctest.Eventually(t, 30*time.Second, "BLOCKED", func() bool {
		st = standing()
		return st.GetStanding() == billingv1.Standing_STANDING_BLOCKED
	})
	trips, events := m.published(t)
	rows := m.count(t, "trip")
	_, err := m.as(rider("rider-owes")).RequestTrip(ctx, rideRequest("rider-owes", "after-unpaid"))
	grpctest.WantReason(t, err, codes.FailedPrecondition, "CUSTOMER_NOT_IN_GOOD_STANDING")
	if tr2, ev2 := m.published(t); tr2 != trips || ev2 != events || m.count(t, "trip") != rows {
		t.Fatalf("a refused request wrote something: trips %d→%d, events %d→%d", trips, tr2, events, ev2)
	}
	for _, id := range st.GetOverdueBillIds() {
		if _, err := bills.CancelBill(ctx, &billingv1.CancelBillRequest{BillId: id, Reason: "waived"}); err != nil {
			t.Fatalf("CancelBill: %v", err)
		}
	}
	if _, err := m.as(rider("rider-owes")).RequestTrip(ctx, rideRequest("rider-owes", "after-unpaid")); err != nil {
		t.Fatalf("RequestTrip after the bill is gone (same request id, which the refusal did not use up): %v", err)
	}
}

// TestOneActiveTripPerRider: concurrent requests of one rider with different request
// ids create exactly one trip; the others are refused ACTIVE_TRIP_EXISTS.
func TestOneActiveTripPerRider(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.as(rider("rider-eager")).RequestTrip(grpctest.Context(t), rideRequest("rider-eager", ids.New()))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		grpctest.WantReason(t, err, codes.FailedPrecondition, "ACTIVE_TRIP_EXISTS")
	}
	if trips, _ := m.published(t); ok != 1 || trips != 1 || m.count(t, "trip") != 1 {
		t.Fatalf("%d requests succeeded, %d trips published, %d rows; want 1", ok, trips, m.count(t, "trip"))
	}
	resp, err := m.as(rider("rider-eager")).ListTrips(grpctest.Context(t), &tripv1.ListTripsRequest{})
	if err != nil || len(resp.GetTrips()) != 1 {
		t.Fatalf("ListTrips = %v, %v", resp, err)
	}
}

// TestRequestIdempotent: a retry with the same request id returns the first trip and
// requests no second ride, also when retries race; the same id with other parameters
// is INVALID_ARGUMENT (REQUEST_ID_REUSED).
func TestRequestIdempotent(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	first, err := m.as(rider("rider-r")).RequestTrip(ctx, rideRequest("rider-r", "req-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.as(rider("rider-r")).RequestTrip(ctx, rideRequest("rider-r", "req-1"))
	if err != nil || again.GetTrip().GetId() != first.GetTrip().GetId() {
		t.Fatalf("retry = %v, %v; want trip %s", again, err, first.GetTrip().GetId())
	}
	other := rideRequest("rider-r", "req-1")
	other.Dropoff = alexanderplatz
	_, err = m.as(rider("rider-r")).RequestTrip(ctx, other)
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")

	// Racing retries of a fresh request: one trip; each answer is that trip or
	// REQUEST_IN_PROGRESS.
	const n = 6
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := m.as(rider("rider-s")).RequestTrip(grpctest.Context(t), rideRequest("rider-s", "req-race"))
			got[i], errs[i] = resp.GetTrip().GetId(), err
		}()
	}
	wg.Wait()
	id := ""
	for i := range n {
		if errs[i] != nil {
			grpctest.WantReason(t, errs[i], codes.Aborted, "REQUEST_IN_PROGRESS")
			continue
		}
		if id != "" && got[i] != id {
			t.Fatalf("racing retries got trips %s and %s", id, got[i])
		}
		id = got[i]
	}
	if id == "" {
		t.Fatal("no racing retry succeeded")
	}
	if trips, _ := m.published(t); trips != 2 || m.count(t, "trip") != 2 {
		t.Fatalf("%d trips, want 2 (one per rider)", trips)
	}
}

// TestMatchingUnreachable: when matching cannot be reached, RequestTrip fails
// UNAVAILABLE and leaves nothing anyone sees (no trip, no event); a retry with the same
// request id once matching is back resumes the same request; a request nobody retries is
// undone by the sweeper (its match, if any, cancelled; its row deleted).
func TestMatchingUnreachable(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{trip: func(c *tripapp.Config) {
		c.RequestLease, c.PendingTimeout = 300*time.Millisecond, 2*time.Second
	}})
	ctx := grpctest.Context(t)
	m.matchingProxy.setDown(true)
	_, err := m.as(rider("rider-u")).RequestTrip(ctx, rideRequest("rider-u", "req-u"))
	grpctest.WantReason(t, err, codes.Unavailable, "MATCHING_UNAVAILABLE")
	if trips, events := m.published(t); trips != 0 || events != 0 {
		t.Fatalf("after a failed request: %d trips, %d events visible", trips, events)
	}
	resp, err := m.as(rider("rider-u")).ListTrips(ctx, &tripv1.ListTripsRequest{})
	if err != nil || len(resp.GetTrips()) != 0 {
		t.Fatalf("ListTrips = %v, %v", resp, err)
	}
	m.matchingProxy.setDown(false)
	time.Sleep(400 * time.Millisecond) // the first attempt's lease runs out
	var tr *tripv1.Trip
	grpctest.Eventually(t, 30*time.Second, "the retry to succeed", func() bool {
		r, err := m.as(rider("rider-u")).RequestTrip(ctx, rideRequest("rider-u", "req-u"))
		tr = r.GetTrip()
		return err == nil
	})
	if m.count(t, "trip") != 1 || tr.GetMatchId() == "" {
		t.Fatalf("the retry made %d rows, trip %v", m.count(t, "trip"), tr)
	}

	// Unretried: the sweeper undoes it, and the rider is free to request again.
	m.matchingProxy.setDown(true)
	_, err = m.as(rider("rider-v")).RequestTrip(ctx, rideRequest("rider-v", ids.New()))
	grpctest.WantCode(t, err, codes.Unavailable)
	m.matchingProxy.setDown(false)
	grpctest.Eventually(t, 30*time.Second, "the sweeper to undo the request", func() bool {
		var n int
		_ = m.trip.Pool.QueryRow(ctx, "SELECT count(*) FROM trip WHERE customer_id = 'rider-v'").Scan(&n)
		return n == 0
	})
	m.request(t, "rider-v")
}

// TestDependenciesRefuse: fare without a rate card for the product refuses
// PRODUCT_NOT_OFFERED; billing or fare unreachable is UNAVAILABLE; nothing is written.
func TestDependenciesRefuse(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	req := rideRequest("rider-x", ids.New())
	req.Product = "limousine"
	_, err := m.as(rider("rider-x")).RequestTrip(ctx, req)
	grpctest.WantReason(t, err, codes.FailedPrecondition, "PRODUCT_NOT_OFFERED")

	m.billingProxy.setDown(true)
	_, err = m.as(rider("rider-x")).RequestTrip(ctx, rideRequest("rider-x", ids.New()))
	grpctest.WantReason(t, err, codes.Unavailable, "BILLING_UNAVAILABLE")
	m.billingProxy.setDown(false)

	m.fareProxy.setDown(true)
	_, err = m.as(rider("rider-x")).RequestTrip(ctx, rideRequest("rider-x", ids.New()))
	grpctest.WantReason(t, err, codes.Unavailable, "FARE_UNAVAILABLE")
	m.fareProxy.setDown(false)

	if m.count(t, "trip") != 0 {
		t.Fatalf("refused requests left %d rows", m.count(t, "trip"))
	}
	var keys int
	if err := m.trip.Pool.QueryRow(ctx, "SELECT count(*) FROM idempotency_keys").Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 0 {
		t.Fatalf("refused requests left %d idempotency keys", keys)
	}
}
