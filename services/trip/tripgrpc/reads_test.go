package tripgrpc_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
)

// TestListTripsPagesAndViews: newest first, pages that together hold every trip once,
// filters, the route never in lists and the timeline only from VIEW_STANDARD, and a
// token that only works with the filters it was issued for.
func TestListTripsPagesAndViews(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	var made []string
	for i := range 5 {
		tr := m.request(t, "rider-l"+string(rune('a'+i)))
		made = append(made, tr.GetId())
	}
	op := m.as(operator)
	var got []string
	token := ""
	for {
		resp, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{PageSize: 2, PageToken: token, View: typev1.View_VIEW_FULL})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range resp.GetTrips() {
			if len(tr.GetTimeline()) == 0 || len(tr.GetRoute()) != 0 {
				t.Fatalf("list in VIEW_FULL: timeline %v, route %v", tr.GetTimeline(), tr.GetRoute())
			}
			got = append(got, tr.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(got) != 5 {
		t.Fatalf("pages held %v", got)
	}
	for i := range got {
		if got[i] != made[len(made)-1-i] {
			t.Fatalf("order %v, want newest first of %v", got, made)
		}
	}
	resp, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetTrips()[0].GetTimeline()) != 0 {
		t.Fatal("VIEW_BASIC lists carry no timeline")
	}
	_, err = op.ListTrips(ctx, &tripv1.ListTripsRequest{PageSize: 2, PageToken: resp.GetNextPageToken(), CustomerId: "rider-la"})
	grpctest.WantField(t, err, "page_token")

	filtered, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{CustomerId: "rider-lb", Status: tripv1.TripStatus_TRIP_STATUS_REQUESTED})
	if err != nil || len(filtered.GetTrips()) != 1 || filtered.GetTrips()[0].GetId() != made[1] {
		t.Fatalf("filtered = %v, %v", filtered, err)
	}
	none, err := op.ListTrips(ctx, &tripv1.ListTripsRequest{Status: tripv1.TripStatus_TRIP_STATUS_ENDED})
	if err != nil || len(none.GetTrips()) != 0 {
		t.Fatalf("ENDED = %v, %v", none, err)
	}
	basic := m.get(t, made[0], typev1.View_VIEW_BASIC)
	std := m.get(t, made[0], typev1.View_VIEW_STANDARD)
	if len(basic.GetTimeline()) != 0 || len(std.GetTimeline()) != 1 || std.GetTimeline()[0].GetLabel() != "requested" {
		t.Fatalf("views: basic %v, standard %v", basic.GetTimeline(), std.GetTimeline())
	}
}

// TestAssignDriverAndSubStatus: AssignDriver checks with matching that the match is
// ASSIGNED to that driver for that trip; SetTripSubStatus works in any status for the
// assigned driver and operators and adds a timeline entry.
func TestAssignDriverAndSubStatus(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	tr, d := m.assigned(t, "rider-1")
	// The consumer assigned it already: the RPC finds the trip no longer REQUESTED.
	_, err := m.as(operator).AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: tr.GetId(), DriverId: d, MatchId: tr.GetMatchId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "TRIP_WRONG_STATUS")
	// A match that is not ASSIGNED to this driver for this trip.
	other := m.request(t, "rider-2")
	_, err = m.as(operator).AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: other.GetId(), DriverId: d, MatchId: tr.GetMatchId()})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "MATCH_NOT_ASSIGNED")
	_, err = m.as(operator).AssignDriver(ctx, &tripv1.AssignDriverRequest{TripId: other.GetId(), DriverId: d, MatchId: ids.New()})
	grpctest.WantCode(t, err, codes.NotFound)

	resp, err := m.as(driverID(d)).SetTripSubStatus(ctx, &tripv1.SetTripSubStatusRequest{TripId: tr.GetId(), SubStatus: "driver_arriving", RequestId: "s1"})
	if err != nil || resp.GetTrip().GetSubStatus() != "driver_arriving" || resp.GetTrip().GetStatus() != tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED {
		t.Fatalf("SetTripSubStatus = %v, %v", resp, err)
	}
	if _, err := m.as(operator).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: tr.GetId(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	resp, err = m.as(operator).SetTripSubStatus(ctx, &tripv1.SetTripSubStatusRequest{TripId: tr.GetId(), SubStatus: "disputed"})
	if err != nil || resp.GetTrip().GetSubStatus() != "disputed" || resp.GetTrip().GetStatus() != tripv1.TripStatus_TRIP_STATUS_CANCELLED {
		t.Fatalf("SetTripSubStatus on a cancelled trip = %v, %v", resp, err)
	}
	tl := m.get(t, tr.GetId(), typev1.View_VIEW_STANDARD).GetTimeline()
	if tl[len(tl)-1].GetLabel() != "sub_status:disputed" {
		t.Fatalf("timeline = %v", tl)
	}
}

// TestReservationProvider: billing's view of rides: details in request order with one
// not-found entry, amount = the estimate before a fare; confirm is OK for a ride and
// refused for a cancelled one; cancel through the provider cancels an unfinished ride
// by the system and repeats harmlessly.
func TestReservationProvider(t *testing.T) {
	t.Parallel()
	m := startMesh(t, meshOptions{})
	ctx := grpctest.Context(t)
	a := m.request(t, "rider-1")
	b := m.request(t, "rider-2")
	if _, err := m.as(operator).CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: b.GetId(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	p := m.provider(service)
	missing := ids.New()
	det, err := p.GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Provider: "trip", Ids: []string{a.GetId(), missing, b.GetId()}, View: typev1.View_VIEW_STANDARD})
	if err != nil {
		t.Fatal(err)
	}
	r := det.GetResults()
	if len(r) != 3 || r[0].GetId() != a.GetId() || r[1].GetStatus() != reservationv1.ReservationResult_STATUS_NOT_FOUND ||
		r[2].GetDetails().GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_CANCELLED {
		t.Fatalf("details = %v", r)
	}
	ad := r[0].GetDetails()
	if ad.GetKind() != reservationv1.Kind_KIND_RIDE || ad.GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_PENDING ||
		ad.GetAmount().GetAmountMinor() != a.GetEstimate().GetAmountMinor() || ad.GetCustomerId() != "rider-1" || ad.GetRide().GetProduct() != "standard" {
		t.Fatalf("ride details = %v", ad)
	}
	conf, err := p.ConfirmReservations(ctx, &reservationv1.ConfirmReservationsRequest{Provider: "trip", Ids: []string{a.GetId(), b.GetId(), missing}, RequestId: "conf-1"})
	if err != nil {
		t.Fatal(err)
	}
	cr := conf.GetResults()
	if cr[0].GetOutcome() != reservationv1.ReservationActionResult_OUTCOME_OK ||
		cr[1].GetOutcome() != reservationv1.ReservationActionResult_OUTCOME_FAILED_PRECONDITION || cr[1].GetReason() != "TRIP_CANCELLED" ||
		cr[2].GetOutcome() != reservationv1.ReservationActionResult_OUTCOME_NOT_FOUND {
		t.Fatalf("confirm = %v", cr)
	}
	for range 2 { // a retry changes nothing
		can, err := p.CancelReservations(ctx, &reservationv1.CancelReservationsRequest{Provider: "trip", Ids: []string{a.GetId()}, RequestId: "can-1", Reason: "bill_cancelled", WaiveFees: true})
		if err != nil || can.GetResults()[0].GetOutcome() != reservationv1.ReservationActionResult_OUTCOME_OK ||
			can.GetResults()[0].GetMainStatus() != reservationv1.MainStatus_MAIN_STATUS_CANCELLED {
			t.Fatalf("cancel = %v, %v", can, err)
		}
	}
	got := m.get(t, a.GetId(), typev1.View_VIEW_BASIC)
	if got.GetCancellation().GetActor() != tripv1.CancellationActor_CANCELLATION_ACTOR_SYSTEM || got.GetVersion() != 2 {
		t.Fatalf("cancelled through the provider: %v", got)
	}
}
