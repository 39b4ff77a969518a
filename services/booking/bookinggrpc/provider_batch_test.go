package bookinggrpc_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/services/booking/booking"
)

const (
	batchConfirmMethod = "/waybill.reservation.v1.ReservationProviderService/ConfirmReservations"
	outcomeOK          = reservationv1.ReservationActionResult_OUTCOME_OK
	outcomeNotFound    = reservationv1.ReservationActionResult_OUTCOME_NOT_FOUND
	outcomePrecond     = reservationv1.ReservationActionResult_OUTCOME_FAILED_PRECONDITION
	mainPending        = reservationv1.MainStatus_MAIN_STATUS_PENDING
	mainConfirmed      = reservationv1.MainStatus(booking.StatusConfirmed)
	mainCancelled      = reservationv1.MainStatus(booking.StatusCancelled)
	mainExpired        = reservationv1.MainStatus(booking.StatusExpired)
	mainUnset          = reservationv1.MainStatus_MAIN_STATUS_UNSPECIFIED
)

// wantResult is the expected outcome of one id.
type wantResult struct {
	outcome reservationv1.ReservationActionResult_Outcome
	status  reservationv1.MainStatus
	reason  string
	version int64 // 0: not checked beyond being 0 for NOT_FOUND
}

func checkResults(t *testing.T, ids []string, got []*reservationv1.ReservationActionResult, want []wantResult) {
	t.Helper()
	if len(got) != len(ids) {
		t.Fatalf("%d results for %d ids", len(got), len(ids))
	}
	for i, w := range want {
		g := got[i]
		if g.GetId() != ids[i] || g.GetOutcome() != w.outcome || g.GetMainStatus() != w.status || g.GetReason() != w.reason ||
			(w.version != 0 && g.GetVersion() != w.version) || (w.outcome == outcomeNotFound && g.GetVersion() != 0) {
			t.Errorf("result %d = %v, want id %s %+v", i, g, ids[i], w)
		}
	}
}

// version reads a reservation's version as an operator.
func (e *env) version(t *testing.T, id string) (int64, *bookingv1.Reservation) {
	t.Helper()
	resp, err := e.ops.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: id, View: typev1.View_VIEW_FULL})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetReservation().GetVersion(), resp.GetReservation()
}

// TestBatchConfirm: a mixed batch gets one outcome per id in request order, moves the
// counters and emits one event per confirmation; a retry returns the identical response
// and changes nothing; customers may not call it at all.
func TestBatchConfirm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 20))
	p := e.createProperty(t, property(10))

	held := e.hold(t, seatHold(d.GetId(), 2))
	stay := e.hold(t, stayHold(p.GetId(), 2, 3, 5))
	confirmed := e.hold(t, seatHold(d.GetId(), 1))
	if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: confirmed.GetId()}); err != nil {
		t.Fatal(err)
	}
	cancelled := e.hold(t, seatHold(d.GetId(), 1))
	if _, err := e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: cancelled.GetId()}); err != nil {
		t.Fatal(err)
	}
	short := seatHold(d.GetId(), 1)
	short.HoldDuration = durationpb.New(time.Minute)
	expired := e.hold(t, short)
	theirs, err := e.cust2.CreateReservation(grpctest.Context(t), seatHold(d.GetId(), 1))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if n, err := e.b.Service.ExpireHolds(grpctest.Context(t), e.clock.Now()); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	// lapsed's hold lapses with the clock, but no sweep runs: it is HELD in the database.
	lapsed := e.hold(t, short)
	e.clock.Advance(2 * time.Minute)
	confirmedVersion, _ := e.version(t, confirmed.GetId())
	expiredVersion, _ := e.version(t, expired.GetId())
	before := e.fareClass(t, d.GetId(), "economy")

	ids := []string{
		held.GetId(), confirmed.GetId(), expired.GetId(), booking.NewID(), booking.NewID(), cancelled.GetId(),
		stay.GetId(), theirs.GetReservation().GetId(), lapsed.GetId(), held.GetId(),
	}
	req := &reservationv1.ConfirmReservationsRequest{Provider: "booking", Ids: ids, RequestId: "pay-1", Reference: "bill:42"}

	// Customers may not call it, not even for their own reservations; nothing is written.
	snap := e.snapshot(t)
	_, err = e.provCust.ConfirmReservations(grpctest.Context(t), req)
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.provCust.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Ids: []string{held.GetId()}, RequestId: "mine"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = e.provAnon.ConfirmReservations(grpctest.Context(t), req)
	grpctest.WantCode(t, err, codes.Unauthenticated)
	if got := e.snapshot(t); got != snap {
		t.Fatalf("a refused call wrote: %s → %s", snap, got)
	}

	confirmedEvents := e.events(t, booking.EventConfirmed)
	resp, err := e.provSvc.ConfirmReservations(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, ids, resp.GetResults(), []wantResult{
		{outcomeOK, mainConfirmed, "", 2},
		{outcomeOK, mainConfirmed, "", confirmedVersion},
		{outcomePrecond, mainExpired, booking.ReasonHoldExpired, expiredVersion},
		{outcomeNotFound, mainUnset, "", 0},
		{outcomeNotFound, mainUnset, "", 0},
		{outcomePrecond, mainCancelled, booking.ReasonInvalidTransition, 2},
		{outcomeOK, mainConfirmed, "", 2},
		{outcomeOK, mainConfirmed, "", 2},
		{outcomePrecond, mainPending, booking.ReasonHoldExpired, 1},
		{outcomeOK, mainConfirmed, "", 2},
	})
	if n := e.events(t, booking.EventConfirmed) - confirmedEvents; n != 3 {
		t.Fatalf("%d confirmed events, want 3 (held, stay, theirs)", n)
	}
	after := e.fareClass(t, d.GetId(), "economy")
	if after.GetSeatsHeld() != before.GetSeatsHeld()-3 || after.GetSeatsSold() != before.GetSeatsSold()+3 {
		t.Fatalf("economy counters %v → %v, want 3 seats moved from held to sold", before, after)
	}
	if n := e.count(t, `SELECT count(*) FROM room_night WHERE property_id = $1 AND held = 0 AND sold = 2`, p.GetId()); n != 2 {
		t.Fatalf("%d nights with 2 sold rooms, want 2", n)
	}
	_, got := e.version(t, held.GetId())
	if h := got.GetHistory(); len(h) != 2 || h[1].GetReason() != "bill:42" || h[1].GetActor() != "billing" {
		t.Fatalf("history = %v, want the confirmation by billing for bill:42", h)
	}

	// The retry, after one of the reservations changed since: the first call's response
	// byte for byte, no second event, nothing written.
	if _, err := e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: held.GetId()}); err != nil {
		t.Fatal(err)
	}
	snap = e.snapshot(t)
	again, err := e.provSvc.ConfirmReservations(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
	second, _ := proto.MarshalOptions{Deterministic: true}.Marshal(again)
	if string(first) != string(second) || !proto.Equal(resp, again) {
		t.Fatalf("retry = %v, want %v", again, resp)
	}
	if got := e.snapshot(t); got != snap {
		t.Fatalf("the retry wrote: %s → %s", snap, got)
	}
	// An operator's batch is its own key; confirming confirmed ones again changes nothing.
	ops, err := e.provOps.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Ids: ids[1:2], RequestId: "pay-1"})
	if err != nil || ops.GetResults()[0].GetOutcome() != outcomeOK || ops.GetResults()[0].GetVersion() != confirmedVersion {
		t.Fatalf("operator confirm = %v, %v", ops, err)
	}
	if n := e.events(t, booking.EventConfirmed) - confirmedEvents; n != 3 {
		t.Fatalf("confirming a confirmed reservation emitted: %d confirmed events, want 3", n)
	}
	// The same request id for another batch is refused.
	_, err = e.provSvc.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Ids: ids[:2], RequestId: "pay-1", Reference: "bill:42"})
	grpctest.WantField(t, err, "request_id")
}

// TestBatchConfirmQueries: the round trips a batch makes do not grow with its size (the
// writes go as one pipelined batch), and are three.
func TestBatchConfirmQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 100))
	var ids []string
	for range 40 {
		ids = append(ids, e.hold(t, seatHold(d.GetId(), 1)).GetId())
	}
	e.queries.take(batchConfirmMethod)
	small, err := e.provSvc.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Ids: ids[:2], RequestId: "a"})
	if err != nil {
		t.Fatal(err)
	}
	n2 := e.queries.take(batchConfirmMethod)
	large, err := e.provSvc.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Ids: ids[2:], RequestId: "b"})
	if err != nil {
		t.Fatal(err)
	}
	n38 := e.queries.take(batchConfirmMethod)
	if n38 != n2 || n2 == 0 {
		t.Fatalf("2 ids made %d round trips, 38 ids %d; want the same", n2, n38)
	}
	// BEGIN with the locking read and the key's claim; the writes with the key's result;
	// the events with COMMIT.
	if n2 != 3 {
		t.Errorf("a batch made %d round trips, want 3", n2)
	}
	for _, r := range append(small.GetResults(), large.GetResults()...) {
		if r.GetOutcome() != outcomeOK || r.GetMainStatus() != mainConfirmed {
			t.Fatalf("result %v", r)
		}
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsSold() != 40 || fc.GetSeatsHeld() != 0 {
		t.Fatalf("counters %v, want 40 sold", fc)
	}
}

// TestBatchCancel: waive_fees refunds in full, otherwise the policy applies; cancelled and
// expired reservations are OK without a change; a retry changes nothing.
func TestBatchCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 20)) // 50 % back three days ahead
	confirm := func(r *bookingv1.Reservation) {
		t.Helper()
		if _, err := e.cust.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: r.GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	waived := e.hold(t, seatHold(d.GetId(), 2)) // 200.00 EUR
	confirm(waived)
	charged := e.hold(t, seatHold(d.GetId(), 2))
	confirm(charged)
	held := e.hold(t, seatHold(d.GetId(), 1))
	cancelled := e.hold(t, seatHold(d.GetId(), 1))
	if _, err := e.cust.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: cancelled.GetId()}); err != nil {
		t.Fatal(err)
	}
	short := seatHold(d.GetId(), 1)
	short.HoldDuration = durationpb.New(time.Minute)
	expired := e.hold(t, short)
	e.clock.Advance(2 * time.Minute)
	if _, err := e.b.Service.ExpireHolds(grpctest.Context(t), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	cancelledVersion, _ := e.version(t, cancelled.GetId())
	expiredVersion, _ := e.version(t, expired.GetId())

	ids := []string{waived.GetId(), held.GetId(), cancelled.GetId(), expired.GetId(), booking.NewID()}
	req := &reservationv1.CancelReservationsRequest{Ids: ids, RequestId: "comp-1", Reason: "payment failed", WaiveFees: true}
	cancelledEvents := e.events(t, booking.EventCancelled)
	resp, err := e.provSvc.CancelReservations(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, ids, resp.GetResults(), []wantResult{
		{outcomeOK, mainCancelled, "", 3},
		{outcomeOK, mainCancelled, "", 2},
		{outcomeOK, mainCancelled, "", cancelledVersion},
		{outcomeOK, mainExpired, "", expiredVersion},
		{outcomeNotFound, mainUnset, "", 0},
	})
	if n := e.events(t, booking.EventCancelled) - cancelledEvents; n != 2 {
		t.Fatalf("%d cancelled events, want 2", n)
	}
	_, w := e.version(t, waived.GetId())
	if c := w.GetCancellation(); !proto.Equal(c.GetRefundableAmount(), eur(20000)) || !proto.Equal(c.GetCancellationFee(), eur(0)) ||
		c.GetReason() != "payment failed" || c.GetActor() != "billing" {
		t.Fatalf("waived cancellation = %v", c)
	}

	// The retry returns the same results and writes nothing.
	snap := e.snapshot(t)
	again, err := e.provSvc.CancelReservations(grpctest.Context(t), req)
	if err != nil || !proto.Equal(again, resp) {
		t.Fatalf("retry = %v, %v; want %v", again, err, resp)
	}
	if got := e.snapshot(t); got != snap {
		t.Fatalf("the retry wrote: %s → %s", snap, got)
	}

	// Without waive_fees a service's cancellation follows the policy.
	res, err := e.provSvc.CancelReservations(grpctest.Context(t), &reservationv1.CancelReservationsRequest{Ids: []string{charged.GetId()}, RequestId: "cancel-bill"})
	if err != nil || res.GetResults()[0].GetOutcome() != outcomeOK {
		t.Fatalf("cancel = %v, %v", res, err)
	}
	_, c := e.version(t, charged.GetId())
	if !proto.Equal(c.GetCancellation().GetRefundableAmount(), eur(10000)) {
		t.Fatalf("policy cancellation = %v, want 100.00 EUR back", c.GetCancellation())
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsHeld() != 0 || fc.GetSeatsSold() != 0 || fc.GetSeatsAvailable() != 20 {
		t.Fatalf("seats not released: %v", fc)
	}
}

// TestBatchBadInput: each bad request is INVALID_ARGUMENT naming the field, and writes nothing.
func TestBatchBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := booking.NewID()
	over := make([]string, booking.MaxActionBatch+1)
	for i := range over {
		over[i] = booking.NewID()
	}
	long := strings.Repeat("x", idempotency.MaxRequestID+1)
	tests := []struct {
		name      string
		provider  string
		ids       []string
		requestID string
		field     string
	}{
		{"no ids", "booking", nil, "r", "ids"},
		{"too many ids", "booking", over, "r", "ids"},
		{"empty id", "booking", []string{id, ""}, "r", "ids[1]"},
		{"malformed id", "booking", []string{id, "not-a-uuid"}, "r", "ids[1]"},
		{"no request id", "booking", []string{id}, "", "request_id"},
		{"long request id", "booking", []string{id}, long, "request_id"},
		{"wrong provider", "trip", []string{id}, "r", "provider"},
	}
	snap := e.snapshot(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.provSvc.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Provider: tc.provider, Ids: tc.ids, RequestId: tc.requestID})
			grpctest.WantField(t, err, tc.field)
			_, err = e.provOps.CancelReservations(grpctest.Context(t), &reservationv1.CancelReservationsRequest{Provider: tc.provider, Ids: tc.ids, RequestId: tc.requestID})
			grpctest.WantField(t, err, tc.field)
		})
	}
	_, err := e.provSvc.CancelReservations(grpctest.Context(t), &reservationv1.CancelReservationsRequest{Ids: []string{id}, RequestId: "r", Reason: strings.Repeat("x", booking.MaxReason+1)})
	grpctest.WantField(t, err, "reason")
	_, err = e.provSvc.ConfirmReservations(grpctest.Context(t), &reservationv1.ConfirmReservationsRequest{Ids: []string{id}, RequestId: "r", Reference: strings.Repeat("x", booking.MaxReference+1)})
	grpctest.WantField(t, err, "reference")
	_, err = e.provCust.CancelReservations(grpctest.Context(t), &reservationv1.CancelReservationsRequest{Ids: []string{id}, RequestId: "r"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if got := e.snapshot(t); got != snap {
		t.Fatalf("bad input wrote: %s → %s", snap, got)
	}
}

// TestBatchConcurrentRetries: calls with one request id racing each other confirm once
// and all answer the same.
func TestBatchConcurrentRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	ids := []string{e.hold(t, seatHold(d.GetId(), 1)).GetId(), e.hold(t, seatHold(d.GetId(), 2)).GetId()}
	req := &reservationv1.ConfirmReservationsRequest{Ids: ids, RequestId: "race"}
	const n = 6
	resps := make([]*reservationv1.ConfirmReservationsResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = e.provSvc.ConfirmReservations(grpctest.Context(t), req)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !proto.Equal(resps[i], resps[0]) {
			t.Fatalf("call %d = %v, %v; want %v", i, resps[i], errs[i], resps[0])
		}
	}
	if got := e.events(t, booking.EventConfirmed); got != 2 {
		t.Fatalf("%d confirmed events, want 2", got)
	}
	if fc := e.fareClass(t, d.GetId(), "economy"); fc.GetSeatsSold() != 3 || fc.GetSeatsHeld() != 0 {
		t.Fatalf("counters %v, want 3 sold", fc)
	}
}
