package bookingpg_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookingpg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) (*bookingpg.Store, func(string) int) {
	t.Helper()
	pool := pgtest.NewDB(t, "booking", bookingpg.Migrations)
	s := bookingpg.New(pool, bookingpg.Options{Encode: func(booking.Event) (proto.Message, error) { return &emptypb.Empty{}, nil }})
	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	return s, count
}

// TestHoldEnforcesCapacityInTheDatabase calls Store.Hold directly, without the domain's
// early availability check, from 50 goroutines for 10 seats and for 4 rooms.
func TestHoldEnforcesCapacityInTheDatabase(t *testing.T) {
	t.Parallel()
	s, count := newStore(t)
	ctx := context.Background()
	now := time.Now()
	d := &booking.Departure{
		ID: booking.NewID(), Mode: booking.ModeTrain, Carrier: "DB", Number: "ICE 1", Origin: "BER", Destination: "MUC",
		DepartureTime: now.Add(48 * time.Hour), ArrivalTime: now.Add(52 * time.Hour), OriginTimeZone: "Europe/Berlin",
		FareClasses: []booking.FareClass{{Name: "second", Capacity: 10}}, Status: booking.DepartureScheduled,
		CreateTime: now, UpdateTime: now, Version: 1,
	}
	if _, err := s.CreateDeparture(ctx, d, idempotency.Key{}); err != nil {
		t.Fatal(err)
	}
	p := &booking.Property{
		ID: booking.NewID(), Name: "Hostel", City: "munich", TimeZone: "Europe/Berlin", CheckInHour: 15, CheckOutHour: 11,
		RoomTypes: []booking.RoomType{{Name: "dorm", NightlyCapacity: 4, MaxGuests: 1}}, Status: booking.PropertyActive,
		CreateTime: now, UpdateTime: now, Version: 1,
	}
	if _, err := s.CreateProperty(ctx, p, idempotency.Key{}); err != nil {
		t.Fatal(err)
	}
	in := booking.DateOf(now).AddDays(3)
	reservation := func(i int, stay bool) *booking.Reservation {
		r := &booking.Reservation{
			ID: booking.NewID(), CustomerID: fmt.Sprintf("c%d", i), Kind: booking.KindTrain, Quantity: 1,
			Travelers: []string{"X"}, Price: money.Money{Amount: 100, Currency: "EUR"}, Status: booking.StatusHeld,
			HoldExpireTime: now.Add(time.Hour), ServiceStart: d.DepartureTime, ServiceEnd: d.ArrivalTime,
			CreateTime: now, UpdateTime: now, Version: 1,
		}
		if stay {
			r.Kind = booking.KindStay
			r.Stay = &booking.StayItem{PropertyID: p.ID, RoomType: "dorm", CheckIn: in.AddDays(i % 3), CheckOut: in.AddDays(i%3 + 2), GuestCount: 1}
		} else {
			r.Seat = &booking.SeatItem{DepartureID: d.ID, FareClass: "second"}
		}
		return r
	}
	for _, stay := range []bool{false, true} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 50 {
			wg.Go(func() {
				_, err := s.Hold(ctx, reservation(i, stay), idempotency.Key{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, booking.ErrInsufficientAvailability):
					t.Errorf("hold: %v", err)
				}
			})
		}
		wg.Wait()
		if !stay && ok != 10 {
			t.Fatalf("%d seat holds succeeded, want 10", ok)
		}
		if stay && ok == 0 {
			t.Fatal("no stay hold succeeded")
		}
	}
	if n := count("SELECT held FROM fare_class"); n != 10 {
		t.Fatalf("held = %d", n)
	}
	// (held ≤ capacity is room_night's CHECK constraint; what can go wrong is the count.)
	if n := count(`SELECT count(*) FROM room_night n WHERE n.held <> (SELECT count(*) FROM reservation r
		WHERE r.property_id = n.property_id AND r.check_in_date <= n.night AND r.check_out_date > n.night)`); n != 0 {
		t.Fatalf("%d nights disagree with their reservations", n)
	}
	if n := count("SELECT max(held) FROM room_night"); n != 4 {
		t.Fatalf("fullest night = %d, want 4", n)
	}
}
