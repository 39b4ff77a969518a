package bookinggrpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestBadInput: every RPC answers bad input with INVALID_ARGUMENT naming the field, and
// writes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	p := e.createProperty(t, property(5))
	r := e.hold(t, seatHold(d.GetId(), 1))

	dep := func(mod func(d *bookingv1.Departure)) *bookingv1.CreateDepartureRequest {
		x := departure(48*time.Hour, 5)
		mod(x)
		return &bookingv1.CreateDepartureRequest{Departure: x}
	}
	prop := func(mod func(p *bookingv1.Property)) *bookingv1.CreatePropertyRequest {
		x := property(5)
		mod(x)
		return &bookingv1.CreatePropertyRequest{Property: x}
	}
	seat := func(mod func(r *bookingv1.CreateReservationRequest)) *bookingv1.CreateReservationRequest {
		x := seatHold(d.GetId(), 1)
		mod(x)
		return x
	}
	stay := func(mod func(r *bookingv1.CreateReservationRequest)) *bookingv1.CreateReservationRequest {
		x := stayHold(p.GetId(), 1, 2, 4)
		mod(x)
		return x
	}
	mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
	inv, ops, cust := e.opsInv, e.ops, e.cust

	tests := []struct {
		name  string
		field string
		call  func(ctx context.Context) error
	}{
		{"CreateDeparture without departure", "departure", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, &bookingv1.CreateDepartureRequest{})
			return err
		}},
		{"CreateDeparture negative capacity", "departure.fare_classes[0].capacity", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) { d.FareClasses[0].Capacity = -3 }))
			return err
		}},
		{"CreateDeparture in the past", "departure.departure_time", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) {
				d.DepartureTime = timestamppb.New(time.Now().Add(-time.Hour))
				d.ArrivalTime = timestamppb.New(time.Now())
			}))
			return err
		}},
		{"CreateDeparture same origin and destination", "departure.destination", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) { d.Destination = d.Origin }))
			return err
		}},
		{"CreateDeparture unknown time zone", "departure.origin_time_zone", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) { d.OriginTimeZone = "Mars/Olympus" }))
			return err
		}},
		{"CreateDeparture without mode", "departure.mode", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) { d.Mode = 0 }))
			return err
		}},
		{"CreateDeparture duplicate fare class", "departure.fare_classes[1].name", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) { d.FareClasses[1].Name = "economy" }))
			return err
		}},
		{"CreateDeparture refund over 100%", "departure.fare_classes[0].cancellation_policy.rules[0].refund_bps", func(ctx context.Context) error {
			_, err := inv.CreateDeparture(ctx, dep(func(d *bookingv1.Departure) { d.FareClasses[0].CancellationPolicy.Rules[0].RefundBps = 20000 }))
			return err
		}},
		{"CreateDeparture long request id", "request_id", func(ctx context.Context) error {
			x := dep(func(*bookingv1.Departure) {})
			x.RequestId = strings.Repeat("x", 129)
			_, err := inv.CreateDeparture(ctx, x)
			return err
		}},
		{"GetDeparture empty id", "departure_id", func(ctx context.Context) error {
			_, err := inv.GetDeparture(ctx, &bookingv1.GetDepartureRequest{})
			return err
		}},
		{"ListDepartures negative page size", "page_size", func(ctx context.Context) error {
			_, err := inv.ListDepartures(ctx, &bookingv1.ListDeparturesRequest{PageSize: -1})
			return err
		}},
		{"ListDepartures malformed token", "page_token", func(ctx context.Context) error {
			_, err := inv.ListDepartures(ctx, &bookingv1.ListDeparturesRequest{PageToken: "!!"})
			return err
		}},

		{"UpdateDeparture immutable path", "update_mask", func(ctx context.Context) error {
			_, err := inv.UpdateDeparture(ctx, &bookingv1.UpdateDepartureRequest{Departure: &bookingv1.Departure{Id: d.GetId(), Origin: "MUC"}, UpdateMask: mask("origin")})
			return err
		}},
		{"UpdateDeparture zero capacity", "departure.fare_classes[0].capacity", func(ctx context.Context) error {
			x := proto.Clone(d).(*bookingv1.Departure)
			x.FareClasses[0].Capacity = 0
			_, err := inv.UpdateDeparture(ctx, &bookingv1.UpdateDepartureRequest{Departure: x, UpdateMask: mask("fare_classes")})
			return err
		}},
		{"CancelDeparture without reason", "reason", func(ctx context.Context) error {
			_, err := inv.CancelDeparture(ctx, &bookingv1.CancelDepartureRequest{DepartureId: d.GetId()})
			return err
		}},
		{"CancelDeparture empty id", "departure_id", func(ctx context.Context) error {
			_, err := inv.CancelDeparture(ctx, &bookingv1.CancelDepartureRequest{Reason: "x"})
			return err
		}},
		{"SearchDepartures past date", "date", func(ctx context.Context) error {
			_, err := inv.SearchDepartures(ctx, &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK", Date: date(-3)})
			return err
		}},
		{"SearchDepartures negative passengers", "passengers", func(ctx context.Context) error {
			_, err := inv.SearchDepartures(ctx, &bookingv1.SearchDeparturesRequest{Origin: "FRA", Destination: "JFK", Date: date(1), Passengers: -2})
			return err
		}},
		{"CreateProperty negative capacity", "property.room_types[0].nightly_capacity", func(ctx context.Context) error {
			_, err := inv.CreateProperty(ctx, prop(func(p *bookingv1.Property) { p.RoomTypes[0].NightlyCapacity = -1 }))
			return err
		}},
		{"CreateProperty bad city", "property.city", func(ctx context.Context) error {
			_, err := inv.CreateProperty(ctx, prop(func(p *bookingv1.Property) { p.City = "Berlin Mitte" }))
			return err
		}},
		{"CreateProperty latitude", "property.location.latitude", func(ctx context.Context) error {
			_, err := inv.CreateProperty(ctx, prop(func(p *bookingv1.Property) { p.Location.Latitude = 100 }))
			return err
		}},
		{"GetProperty empty id", "property_id", func(ctx context.Context) error {
			_, err := inv.GetProperty(ctx, &bookingv1.GetPropertyRequest{})
			return err
		}},
		{"ListProperties negative page size", "page_size", func(ctx context.Context) error {
			_, err := inv.ListProperties(ctx, &bookingv1.ListPropertiesRequest{PageSize: -5})
			return err
		}},
		{"UpdateProperty unknown path", "update_mask", func(ctx context.Context) error {
			_, err := inv.UpdateProperty(ctx, &bookingv1.UpdatePropertyRequest{Property: &bookingv1.Property{Id: p.GetId()}, UpdateMask: mask("city")})
			return err
		}},
		{"UpdateProperty hour", "property.check_in_hour", func(ctx context.Context) error {
			_, err := inv.UpdateProperty(ctx, &bookingv1.UpdatePropertyRequest{Property: &bookingv1.Property{Id: p.GetId(), CheckInHour: 25}, UpdateMask: mask("check_in_hour")})
			return err
		}},
		{"CloseProperty without reason", "reason", func(ctx context.Context) error {
			_, err := inv.CloseProperty(ctx, &bookingv1.ClosePropertyRequest{PropertyId: p.GetId()})
			return err
		}},
		{"SearchStays past check-in", "check_in_date", func(ctx context.Context) error {
			_, err := inv.SearchStays(ctx, &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(-2), CheckOutDate: date(1)})
			return err
		}},
		{"SearchStays too long", "check_out_date", func(ctx context.Context) error {
			_, err := inv.SearchStays(ctx, &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(1), CheckOutDate: date(40)})
			return err
		}},
		{"SearchStays more rooms than guests", "rooms", func(ctx context.Context) error {
			_, err := inv.SearchStays(ctx, &bookingv1.SearchStaysRequest{City: "berlin", CheckInDate: date(1), CheckOutDate: date(2), Guests: 1, Rooms: 2})
			return err
		}},
		{"CreateReservation negative quantity", "reservation.quantity", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.Reservation.Quantity = -1 }))
			return err
		}},
		{"CreateReservation unknown fare class", "reservation.seat.fare_class", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.Reservation.GetSeat().FareClass = "first" }))
			return err
		}},
		{"CreateReservation empty departure id", "reservation.seat.departure_id", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.Reservation.GetSeat().DepartureId = "" }))
			return err
		}},
		{"CreateReservation without item", "reservation.item", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.Reservation.Item = nil }))
			return err
		}},
		{"CreateReservation traveller count", "reservation.travelers", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.Reservation.Travelers = travelers(3) }))
			return err
		}},
		{"CreateReservation hold too long", "hold_duration", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.HoldDuration = durationpb.New(2 * time.Hour) }))
			return err
		}},
		{"CreateReservation mismatched currency", "expected_price.currency_code", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) {
				r.ExpectedPrice = &typev1.Money{AmountMinor: 10000, CurrencyCode: "USD"}
			}))
			return err
		}},
		{"CreateReservation negative expected price", "expected_price.amount_minor", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) {
				r.ExpectedPrice = &typev1.Money{AmountMinor: -1, CurrencyCode: "EUR"}
			}))
			return err
		}},
		{"CreateReservation non-ASCII request id", "request_id", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) { r.RequestId = "hold\u00e9" }))
			return err
		}},
		{"CreateReservation malformed currency", "expected_price.currency_code", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, seat(func(r *bookingv1.CreateReservationRequest) {
				r.ExpectedPrice = &typev1.Money{AmountMinor: 10000, CurrencyCode: "eu"}
			}))
			return err
		}},
		{"CreateReservation stay in the past", "reservation.stay.check_in_date", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, stay(func(r *bookingv1.CreateReservationRequest) { r.Reservation.GetStay().CheckInDate = date(-2) }))
			return err
		}},
		{"CreateReservation unknown room type", "reservation.stay.room_type", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, stay(func(r *bookingv1.CreateReservationRequest) { r.Reservation.GetStay().RoomType = "suite" }))
			return err
		}},
		{"CreateReservation too many guests", "reservation.stay.guest_count", func(ctx context.Context) error {
			_, err := cust.CreateReservation(ctx, stay(func(r *bookingv1.CreateReservationRequest) { r.Reservation.GetStay().GuestCount = 3 }))
			return err
		}},
		{"GetReservation empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.GetReservation(ctx, &bookingv1.GetReservationRequest{})
			return err
		}},
		{"ListReservations negative page size", "page_size", func(ctx context.Context) error {
			_, err := cust.ListReservations(ctx, &bookingv1.ListReservationsRequest{PageSize: -1})
			return err
		}},
		{"ListReservations unknown status", "statuses[0]", func(ctx context.Context) error {
			_, err := ops.ListReservations(ctx, &bookingv1.ListReservationsRequest{Statuses: []bookingv1.ReservationStatus{99}})
			return err
		}},
		{"UpdateReservation price", "update_mask", func(ctx context.Context) error {
			_, err := cust.UpdateReservation(ctx, &bookingv1.UpdateReservationRequest{Reservation: &bookingv1.Reservation{Id: r.GetId()}, UpdateMask: mask("price")})
			return err
		}},
		{"UpdateReservation empty name", "reservation.travelers[0].full_name", func(ctx context.Context) error {
			_, err := cust.UpdateReservation(ctx, &bookingv1.UpdateReservationRequest{
				Reservation: &bookingv1.Reservation{Id: r.GetId(), Travelers: []*bookingv1.Traveler{{}}}, UpdateMask: mask("travelers")})
			return err
		}},
		{"ConfirmReservation empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.ConfirmReservation(ctx, &bookingv1.ConfirmReservationRequest{})
			return err
		}},
		{"CancelReservation empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.CancelReservation(ctx, &bookingv1.CancelReservationRequest{})
			return err
		}},
		{"CancelReservation long reason", "reason", func(ctx context.Context) error {
			_, err := cust.CancelReservation(ctx, &bookingv1.CancelReservationRequest{ReservationId: r.GetId(), Reason: strings.Repeat("x", 501)})
			return err
		}},
		{"GetCancellationQuote empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.GetCancellationQuote(ctx, &bookingv1.GetCancellationQuoteRequest{})
			return err
		}},
		{"CheckInReservation empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.CheckInReservation(ctx, &bookingv1.CheckInReservationRequest{})
			return err
		}},
		{"CheckOutReservation empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.CheckOutReservation(ctx, &bookingv1.CheckOutReservationRequest{})
			return err
		}},
		{"SetReservationSubStatus too long", "sub_status", func(ctx context.Context) error {
			_, err := cust.SetReservationSubStatus(ctx, &bookingv1.SetReservationSubStatusRequest{ReservationId: r.GetId(), SubStatus: strings.Repeat("s", 65)})
			return err
		}},
		{"SetReservationSubStatus empty id", "reservation_id", func(ctx context.Context) error {
			_, err := cust.SetReservationSubStatus(ctx, &bookingv1.SetReservationSubStatusRequest{SubStatus: "x"})
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

// TestUnknownCurrencyIsRefused: booking's one money-carrying request refuses a currency
// that is three capitals but no ISO 4217 code, naming the field, before asking fare for a
// price (kit/money's rule, the same in every service).
func TestUnknownCurrencyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.routeCard(t)
	d := e.createDeparture(t, departure(72*time.Hour, 10))
	before := e.snapshot(t)
	e.fareCalls.Take()
	req := seatHold(d.GetId(), 1)
	req.ExpectedPrice = &typev1.Money{AmountMinor: 10000, CurrencyCode: "ZZZ"}
	_, err := e.cust.CreateReservation(grpctest.Context(t), req)
	grpctest.WantField(t, err, "expected_price.currency_code")
	if calls := e.fareCalls.Take(); len(calls) != 0 {
		t.Errorf("a hold in ZZZ asked fare %v, want it refused before pricing", calls)
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("a hold in ZZZ wrote:\n%s\n%s", before, after)
	}
}
