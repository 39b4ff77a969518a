package billinggrpc_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billinggrpc"
	"github.com/waybill/waybill/services/booking/bookinggrpc"
	"github.com/waybill/waybill/services/booking/bookingpg"
)

// TestPayBillWithRealBooking runs the pay saga against the real booking and payment
// services: a bill of two held seats is paid and booking confirms both; on a second bill
// one seat was cancelled by the customer, so booking refuses to confirm it, the other
// seat (confirmed by the saga) is cancelled again with fees waived and the payment voided.
func TestPayBillWithRealBooking(t *testing.T) {
	t.Parallel()
	signer := newSigner(t)
	tel, err := telemetry.Setup(context.Background(), "booking-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	srv := grpcserver.New(grpcserver.Config{Name: "booking", DefaultTimeout: 10 * time.Second, ShutdownTimeout: time.Second}, logger, tel,
		grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()))
	if _, err := bookinggrpc.Start(ctx, serve.Deps{Server: srv, Pool: pgtest.NewDB(t, "booking", bookingpg.Migrations), Logger: logger, Telemetry: tel, Auth: signer},
		bookinggrpc.Options{Pricer: flatPricer{}, SweepInterval: -1}); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, lis, nil) }()
	addr := lis.Addr().String()
	dial := func(id auth.Identity) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), signer.DialOption(id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	inv := bookingv1.NewInventoryServiceClient(dial(auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	res := bookingv1.NewReservationServiceClient(dial(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}))

	pay := startPayment(t, signer)
	e := startBilling(t, signer, newBillingDB(t), nil, "flight=booking@"+addr, func(c *billinggrpc.Config) {
		c.PaymentAddr = pay.addr
		c.Saga = billing.RunnerOptions{Poll: 100 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond}
	})
	pm := pay.method(t, pay.cust, "cust-1", "tok_sim_visa")
	c := ctxT(t)
	dep := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	d, err := inv.CreateDeparture(c, &bookingv1.CreateDepartureRequest{Departure: &bookingv1.Departure{
		Mode: bookingv1.TransportMode_TRANSPORT_MODE_FLIGHT, Carrier: "LH", Number: "401", Origin: "FRA", Destination: "JFK",
		DepartureTime: timestamppb.New(dep), ArrivalTime: timestamppb.New(dep.Add(8 * time.Hour)), OriginTimeZone: "Europe/Berlin",
		FareClasses: []*bookingv1.FareClass{{Name: "economy", Capacity: 10}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	hold := func() string {
		t.Helper()
		r, err := res.CreateReservation(c, &bookingv1.CreateReservationRequest{Reservation: &bookingv1.Reservation{
			Item:     &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{DepartureId: d.GetDeparture().GetId(), FareClass: "economy"}},
			Quantity: 1, Travelers: []*bookingv1.Traveler{{FullName: "Ada Lovelace"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetReservation().GetId()
	}
	bookingStatus := func(id string) bookingv1.ReservationStatus {
		t.Helper()
		r, err := res.GetReservation(c, &bookingv1.GetReservationRequest{ReservationId: id})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetReservation().GetStatus()
	}
	billOf := func(ids ...string) string {
		t.Helper()
		b := e.openBill(t)
		for _, id := range ids {
			e.add(t, b.GetId(), reservationv1.Kind_KIND_FLIGHT, id)
		}
		if _, err := e.customer.FinalizeBill(c, &billingv1.FinalizeBillRequest{BillId: b.GetId()}); err != nil {
			t.Fatal(err)
		}
		return b.GetId()
	}

	// Paid: booking confirms both seats, the payment is captured.
	a1, a2 := hold(), hold()
	paid := billOf(a1, a2)
	e.pay(t, paid, pm, "pay-paid")
	if end := e.sagaEnded(t, paid); end.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("bill = %v (%v), want PAID", end.GetStatus(), end.GetPaymentSaga())
	}
	for _, id := range []string{a1, a2} {
		if st := bookingStatus(id); st != bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED {
			t.Fatalf("paid seat %s is %v in booking, want CONFIRMED", id, st)
		}
	}
	if ps := pay.payments(t, paid); len(ps) != 1 || ps[0].GetCapturedAmount().GetAmountMinor() != 20000 {
		t.Fatalf("payments = %v, want one capture of 200.00", ps)
	}

	// Failed: the customer cancelled one seat after finalizing.
	b1, b2 := hold(), hold()
	failed := billOf(b1, b2)
	if _, err := res.CancelReservation(c, &bookingv1.CancelReservationRequest{ReservationId: b2, Reason: "changed plans"}); err != nil {
		t.Fatal(err)
	}
	e.pay(t, failed, pm, "pay-failed")
	end := e.sagaEnded(t, failed)
	if end.GetStatus() != billingv1.BillStatus_BILL_STATUS_FAILED || end.GetPaymentSaga().GetFailureCode() != billing.FailureItemNotConfirmable {
		t.Fatalf("bill = %v (%v), want FAILED with item_not_confirmable", end.GetStatus(), end.GetPaymentSaga())
	}
	for _, id := range []string{b1, b2} {
		if st := bookingStatus(id); st != bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED {
			t.Fatalf("seat %s of the failed bill is %v in booking, want CANCELLED", id, st)
		}
	}
	if ps := pay.payments(t, failed); len(ps) != 1 || ps[0].GetStatus().String() != "PAYMENT_STATUS_VOIDED" {
		t.Fatalf("payments = %v, want one VOIDED", ps)
	}
}
