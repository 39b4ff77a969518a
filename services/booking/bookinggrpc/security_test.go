package bookinggrpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/booking/booking"
)

// TestCustomerCannotSetServerFields: of what a customer sends to create or change a
// reservation, another customer's id is refused with PERMISSION_DENIED naming the field,
// and every field the server owns (ids, status, sub-status, price, versions, times…) is
// ignored, as the proto documents (issue 11, finding 5).
func TestCustomerCannotSetServerFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 100))

	// Another customer's id is refused, naming the field.
	req := seatHold(d.GetId(), 1)
	req.Reservation.CustomerId = customer2
	snap := e.snapshot(t)
	_, err := e.cust.CreateReservation(grpctest.Context(t), req)
	info := grpctest.WantReason(t, err, codes.PermissionDenied, errs.ReasonFieldNotSettable)
	if f := info.GetMetadata()["field"]; f != "reservation.customer_id" {
		t.Fatalf("metadata field = %q, want reservation.customer_id", f)
	}
	if !strings.Contains(status.Convert(err).Message(), "reservation.customer_id") {
		t.Errorf("message %q does not name reservation.customer_id", status.Convert(err).Message())
	}
	if got := e.snapshot(t); got != snap {
		t.Fatalf("a refused hold wrote: %s → %s", snap, got)
	}

	// Server-owned fields are ignored on create.
	injectedID := booking.NewID()
	past := timestamppb.New(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		field string
		set   func(r *bookingv1.Reservation)
		ok    func(r *bookingv1.Reservation) bool
	}{
		{"id", func(r *bookingv1.Reservation) { r.Id = injectedID }, func(r *bookingv1.Reservation) bool { return r.GetId() != injectedID }},
		{"kind", func(r *bookingv1.Reservation) { r.Kind = reservationv1.Kind_KIND_STAY },
			func(r *bookingv1.Reservation) bool { return r.GetKind() == reservationv1.Kind_KIND_FLIGHT }},
		{"status", func(r *bookingv1.Reservation) { r.Status = bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED },
			func(r *bookingv1.Reservation) bool {
				return r.GetStatus() == bookingv1.ReservationStatus_RESERVATION_STATUS_HELD
			}},
		{"sub_status", func(r *bookingv1.Reservation) { r.SubStatus = "vip_upgrade_approved" },
			func(r *bookingv1.Reservation) bool { return r.GetSubStatus() == "" }},
		{"price", func(r *bookingv1.Reservation) { r.Price = eur(1) }, func(r *bookingv1.Reservation) bool { return r.GetPrice().GetAmountMinor() == 10000 }},
		{"rate_card_id", func(r *bookingv1.Reservation) { r.RateCardId = injectedID }, func(r *bookingv1.Reservation) bool { return r.GetRateCardId() != injectedID }},
		{"rate_version", func(r *bookingv1.Reservation) { r.RateVersion = 99 }, func(r *bookingv1.Reservation) bool { return r.GetRateVersion() == 1 }},
		{"quote_id", func(r *bookingv1.Reservation) { r.QuoteId = injectedID }, func(r *bookingv1.Reservation) bool { return r.GetQuoteId() != injectedID }},
		{"hold_expire_time", func(r *bookingv1.Reservation) {
			r.HoldExpireTime = timestamppb.New(time.Now().Add(30 * 24 * time.Hour))
		},
			func(r *bookingv1.Reservation) bool {
				return r.GetHoldExpireTime().AsTime().Before(time.Now().Add(time.Hour))
			}},
		{"cancellation_policy", func(r *bookingv1.Reservation) { r.CancellationPolicy = &bookingv1.CancellationPolicy{} },
			func(r *bookingv1.Reservation) bool { return len(r.GetCancellationPolicy().GetRules()) == 2 }},
		{"cancellation", func(r *bookingv1.Reservation) {
			r.Cancellation = &bookingv1.Cancellation{Reason: "x", RefundableAmount: eur(10000)}
		},
			func(r *bookingv1.Reservation) bool { return r.GetCancellation() == nil }},
		{"service_period", func(r *bookingv1.Reservation) { r.ServicePeriod = &typev1.TimeRange{StartTime: past, EndTime: past} },
			func(r *bookingv1.Reservation) bool {
				return r.GetServicePeriod().GetStartTime().AsTime().After(time.Now())
			}},
		{"history", func(r *bookingv1.Reservation) {
			r.History = []*bookingv1.StatusChange{{Status: bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED}}
		}, func(r *bookingv1.Reservation) bool {
			full, err := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: r.GetId(), View: typev1.View_VIEW_FULL})
			return err == nil && len(full.GetReservation().GetHistory()) == 1 &&
				full.GetReservation().GetHistory()[0].GetStatus() == bookingv1.ReservationStatus_RESERVATION_STATUS_HELD
		}},
		{"create_time", func(r *bookingv1.Reservation) { r.CreateTime = past },
			func(r *bookingv1.Reservation) bool {
				return r.GetCreateTime().AsTime().After(time.Now().Add(-time.Hour))
			}},
		{"update_time", func(r *bookingv1.Reservation) { r.UpdateTime = past },
			func(r *bookingv1.Reservation) bool {
				return r.GetUpdateTime().AsTime().After(time.Now().Add(-time.Hour))
			}},
		{"version", func(r *bookingv1.Reservation) { r.Version = 7 }, func(r *bookingv1.Reservation) bool { return r.GetVersion() == 1 }},
		{"seat.carrier", func(r *bookingv1.Reservation) { r.GetSeat().Carrier = "XX" }, func(r *bookingv1.Reservation) bool { return r.GetSeat().GetCarrier() == "LH" }},
		{"seat.departure_time", func(r *bookingv1.Reservation) { r.GetSeat().DepartureTime = past },
			func(r *bookingv1.Reservation) bool {
				return r.GetSeat().GetDepartureTime().AsTime().Equal(d.GetDepartureTime().AsTime())
			}},
	}
	for _, tc := range tests {
		t.Run("create "+tc.field, func(t *testing.T) {
			req := seatHold(d.GetId(), 1)
			tc.set(req.Reservation)
			resp, err := e.cust.CreateReservation(grpctest.Context(t), req)
			if err != nil {
				t.Fatalf("hold with %s set: %v", tc.field, err)
			}
			if !tc.ok(resp.GetReservation()) {
				t.Fatalf("the customer's %s was applied: %v", tc.field, resp.GetReservation())
			}
		})
	}

	// UpdateReservation changes only the travellers, whatever else the reservation carries.
	r := e.hold(t, seatHold(d.GetId(), 1))
	u, err := e.cust.UpdateReservation(grpctest.Context(t), &bookingv1.UpdateReservationRequest{
		Reservation: &bookingv1.Reservation{
			Id: r.GetId(), CustomerId: customer2, Status: bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED,
			SubStatus: "vip", Price: eur(1), Travelers: []*bookingv1.Traveler{{FullName: "Ada"}},
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"travelers"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := u.GetReservation(); g.GetCustomerId() != customer1 || g.GetStatus() != bookingv1.ReservationStatus_RESERVATION_STATUS_HELD ||
		g.GetSubStatus() != "" || g.GetPrice().GetAmountMinor() != 10000 || g.GetTravelers()[0].GetFullName() != "Ada" {
		t.Fatalf("update applied more than the travellers: %v", g)
	}
}

// TestOthersReservationsAreNotFound: another customer's reservation is answered exactly
// like one that does not exist, on every method that takes a reservation id: the same
// code, reason and message but for the id, and STATUS_NOT_FOUND in a details batch
// (issue 11, finding 7). Nothing changes.
func TestOthersReservationsAreNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	theirs := e.hold(t, seatHold(d.GetId(), 1)).GetId() // customer 1's
	missing := booking.NewID()
	cust2 := e.cust2
	calls := []struct {
		name string
		call func(ctx context.Context, id string) error
	}{
		{"GetReservation", func(ctx context.Context, id string) error {
			_, err := cust2.GetReservation(ctx, &bookingv1.GetReservationRequest{ReservationId: id})
			return err
		}},
		{"UpdateReservation", func(ctx context.Context, id string) error {
			_, err := cust2.UpdateReservation(ctx, &bookingv1.UpdateReservationRequest{
				Reservation: &bookingv1.Reservation{Id: id, Travelers: travelers(1)}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"travelers"}}})
			return err
		}},
		{"ConfirmReservation", func(ctx context.Context, id string) error {
			_, err := cust2.ConfirmReservation(ctx, &bookingv1.ConfirmReservationRequest{ReservationId: id})
			return err
		}},
		{"CancelReservation", func(ctx context.Context, id string) error {
			_, err := cust2.CancelReservation(ctx, &bookingv1.CancelReservationRequest{ReservationId: id})
			return err
		}},
		{"GetCancellationQuote", func(ctx context.Context, id string) error {
			_, err := cust2.GetCancellationQuote(ctx, &bookingv1.GetCancellationQuoteRequest{ReservationId: id})
			return err
		}},
		{"CheckInReservation", func(ctx context.Context, id string) error {
			_, err := cust2.CheckInReservation(ctx, &bookingv1.CheckInReservationRequest{ReservationId: id})
			return err
		}},
		{"CheckOutReservation", func(ctx context.Context, id string) error {
			_, err := cust2.CheckOutReservation(ctx, &bookingv1.CheckOutReservationRequest{ReservationId: id})
			return err
		}},
		{"SetReservationSubStatus", func(ctx context.Context, id string) error {
			_, err := cust2.SetReservationSubStatus(ctx, &bookingv1.SetReservationSubStatusRequest{ReservationId: id, SubStatus: "x"})
			return err
		}},
	}
	snap := e.snapshot(t)
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			other := tc.call(grpctest.Context(t), theirs)
			absent := tc.call(grpctest.Context(t), missing)
			grpctest.WantCode(t, other, codes.NotFound)
			grpctest.WantCode(t, absent, codes.NotFound)
			if a, b := grpctest.Reason(other), grpctest.Reason(absent); a != b {
				t.Errorf("reasons differ: %q for another customer's, %q for a missing one", a, b)
			}
			a := strings.ReplaceAll(status.Convert(other).Message(), theirs, "<id>")
			b := strings.ReplaceAll(status.Convert(absent).Message(), missing, "<id>")
			if a != b {
				t.Errorf("messages differ: %q for another customer's, %q for a missing one", a, b)
			}
		})
	}

	// A details batch says the same of both.
	prov2 := reservationv1.NewReservationProviderServiceClient(grpctest.Dial(t, e.addr, auth.Identity{Subject: customer2, Role: auth.RoleCustomer}))
	resp, err := prov2.GetReservationDetails(grpctest.Context(t), &reservationv1.GetReservationDetailsRequest{Ids: []string{theirs, missing}, View: typev1.View_VIEW_FULL})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.GetResults() {
		if r.GetStatus() != reservationv1.ReservationResult_STATUS_NOT_FOUND || r.GetDetails() != nil {
			t.Errorf("details result %d = %v, want STATUS_NOT_FOUND without details", i, r)
		}
	}
	if got := e.snapshot(t); got != snap {
		t.Fatalf("calls on another customer's reservation wrote: %s → %s", snap, got)
	}
	if r, err := e.cust.GetReservation(grpctest.Context(t), &bookingv1.GetReservationRequest{ReservationId: theirs}); err != nil ||
		r.GetReservation().GetVersion() != 1 || r.GetReservation().GetSubStatus() != "" {
		t.Fatalf("the owner's reservation changed: %v, %v", r, err)
	}
}

// TestIDsAndDatesAreBounded: every id in a request must be a UUID, dates lie within what
// booking sells (today to SaleDays ahead, journeys of at most MaxJourney) and amounts
// within money.MaxAmount; anything else is INVALID_ARGUMENT naming the field, and writes
// nothing (issue 11, finding 8).
func TestIDsAndDatesAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	p := e.createProperty(t, property(5))
	r := e.hold(t, seatHold(d.GetId(), 1))
	const bad = "not-a-uuid"
	farDays := booking.SaleDays + 3
	far := time.Now().AddDate(0, 0, farDays)
	mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
	cust, inv, prov, svc := e.cust, e.opsInv, e.provCust, e.provSvc

	tests := []struct {
		name  string
		field string
		call  func(ctx context.Context) error
	}{
		{"GetReservation", "reservation_id", func(ctx context.Context) error {
			_, err := cust.GetReservation(ctx, &bookingv1.GetReservationRequest{ReservationId: bad})
			return err
		}},
		{"UpdateReservation", "reservation.id", func(ctx context.Context) error {
			_, err := cust.UpdateReservation(ctx, &bookingv1.UpdateReservationRequest{
				Reservation: &bookingv1.Reservation{Id: bad, Travelers: travelers(1)}, UpdateMask: mask("travelers")})
			return err
		}},
		{"ConfirmReservation", "reservation_id", func(ctx context.Context) error {
			_, err := cust.ConfirmReservation(ctx, &bookingv1.ConfirmReservationRequest{ReservationId: bad})
			return err
		}},
		{"CancelReservation", "reservation_id", func(ctx context.Context) error {
			_, err := cust.CancelReservation(ctx, &bookingv1.CancelReservationRequest{ReservationId: bad})
			return err
		}},
		{"GetCancellationQuote", "reservation_id", func(ctx context.Context) error {
			_, err := cust.GetCancellationQuote(ctx, &bookingv1.GetCancellationQuoteRequest{ReservationId: bad})
			return err
		}},
		{"CheckInReservation", "reservation_id", func(ctx context.Context) error {
			_, err := cust.CheckInReservation(ctx, &bookingv1.CheckInReservationRequest{ReservationId: bad})
			return err
		}},
		{"CheckOutReservation", "reservation_id", func(ctx context.Context) error {
			_, err := cust.CheckOutReservation(ctx, &bookingv1.CheckOutReservationRequest{ReservationId: bad})
			return err
		}},
		{"SetReservationSubStatus", "reservation_id", func(ctx context.Context) error {
			_, err := cust.SetReservationSubStatus(ctx, &bookingv1.SetReservationSubStatusRequest{ReservationId: bad})
			return err
		}},
		{"ListReservations departure", "departure_id", func(ctx context.Context) error {
			_, err := cust.ListReservations(ctx, &bookingv1.ListReservationsRequest{DepartureId: bad})
			return err
		}},
		{"ListReservations property", "property_id", func(ctx context.Context) error {
			_, err := cust.ListReservations(ctx, &bookingv1.ListReservationsRequest{PropertyId: bad})
			return err
		}},
		{"GetReservationDetails", "ids[1]", func(ctx context.Context) error {
			_, err := prov.GetReservationDetails(ctx, &reservationv1.GetReservationDetailsRequest{Ids: []string{r.GetId(), bad}})
			return err
		}},
		{"ConfirmReservations", "ids[1]", func(ctx context.Context) error {
			_, err := svc.ConfirmReservations(ctx, &reservationv1.ConfirmReservationsRequest{Ids: []string{r.GetId(), bad}, RequestId: "c-1"})
			return err
		}},
		{"CancelReservations", "ids[0]", func(ctx context.Context) error {
			_, err := svc.CancelReservations(ctx, &reservationv1.CancelReservationsRequest{Ids: []string{bad, r.GetId()}, RequestId: "x-1"})
			return err
		}},
		{"GetDeparture", "departure_id", func(ctx context.Context) error {
			_, err := inv.GetDeparture(ctx, &bookingv1.GetDepartureRequest{DepartureId: bad})
			return err
		}},
		{"UpdateDeparture id", "departure.id", func(ctx context.Context) error {
			_, err := inv.UpdateDeparture(ctx, &bookingv1.UpdateDepartureRequest{Departure: &bookingv1.Departure{Id: bad, SubStatus: "x"}, UpdateMask: mask("sub_status")})
			return err
		}},
		{"CancelDeparture", "departure_id", func(ctx context.Context) error {
			_, err := inv.CancelDeparture(ctx, &bookingv1.CancelDepartureRequest{DepartureId: bad, Reason: "x"})
			return err
		}},
		{"GetProperty", "property_id", func(ctx context.Context) error {
			_, err := inv.GetProperty(ctx, &bookingv1.GetPropertyRequest{PropertyId: bad})
			return err
		}},
		{"UpdateProperty id", "property.id", func(ctx context.Context) error {
			_, err := inv.UpdateProperty(ctx, &bookingv1.UpdatePropertyRequest{Property: &bookingv1.Property{Id: bad, SubStatus: "x"}, UpdateMask: mask("sub_status")})
			return err
		}},
		{"CloseProperty", "property_id", func(ctx context.Context) error {
			_, err := inv.CloseProperty(ctx, &bookingv1.ClosePropertyRequest{PropertyId: bad, Reason: "x"})
			return err
		}},
		{"CreateDeparture beyond the sale horizon", "departure.departure_time", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, &bookingv1.CreateDepartureRequest{Departure: departure(time.Until(far), 5)})
			return err
		}},
		{"CreateDeparture journey too long", "departure.arrival_time", func(ctx context.Context) error {
			x := departure(48*time.Hour, 5)
			x.ArrivalTime = timestamppb.New(x.GetDepartureTime().AsTime().Add(booking.MaxJourney + time.Hour))
			_, err := inv.CreateDeparture(ctx, &bookingv1.CreateDepartureRequest{Departure: x})
			return err
		}},
		{"UpdateDeparture beyond the sale horizon", "departure.departure_time", func(ctx context.Context) error {
			_, err := inv.UpdateDeparture(ctx, &bookingv1.UpdateDepartureRequest{
				Departure:  &bookingv1.Departure{Id: d.GetId(), DepartureTime: timestamppb.New(far), ArrivalTime: timestamppb.New(far.Add(time.Hour))},
				UpdateMask: mask("departure_time", "arrival_time")})
			return err
		}},
		{"UpdateDeparture journey too long", "departure.arrival_time", func(ctx context.Context) error {
			_, err := inv.UpdateDeparture(ctx, &bookingv1.UpdateDepartureRequest{
				Departure:  &bookingv1.Departure{Id: d.GetId(), ArrivalTime: timestamppb.New(d.GetDepartureTime().AsTime().Add(booking.MaxJourney + time.Hour))},
				UpdateMask: mask("arrival_time")})
			return err
		}},
		{"SearchDepartures beyond the sale horizon", "date", func(ctx context.Context) error {
			_, err := inv.SearchDepartures(ctx, &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK", Date: date(farDays)})
			return err
		}},
		{"SearchStays beyond the sale horizon", "check_in_date", func(ctx context.Context) error {
			_, err := inv.SearchStays(ctx, &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(farDays), CheckOutDate: date(farDays + 2)})
			return err
		}},
		{"CreateReservation stay beyond the sale horizon", "reservation.stay.check_in_date", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, stayHold(p.GetId(), 1, farDays, farDays+2))
			return err
		}},
		{"CreateReservation expected price over the maximum", "expected_price.amount_minor", func(ctx context.Context) error {
			req := seatHold(d.GetId(), 1)
			req.ExpectedPrice = eur(money.MaxAmount + 1)
			_, err := cust.CreateReservation(ctx, req)
			return err
		}},
	}
	before := e.snapshot(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			grpctest.WantField(t, tc.call(grpctest.Context(t)), tc.field)
		})
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("bad input wrote something:\nbefore %s\nafter  %s", before, after)
	}
}
