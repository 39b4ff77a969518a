package bookingpg_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookingpg"
)

// txEnv is a store on a fresh database with one departure of 2 seats.
type txEnv struct {
	pool      *pgxpool.Pool
	store     *bookingpg.Store
	departure *booking.Departure
	notified  int
}

func newTxEnv(t *testing.T) *txEnv {
	t.Helper()
	e := &txEnv{pool: pgtest.NewDB(t, "booking", bookingpg.Migrations)}
	e.store = bookingpg.New(e.pool, bookingpg.Options{
		Encode: func(booking.Event) (proto.Message, error) { return &emptypb.Empty{}, nil },
		Notify: func() { e.notified++ },
	})
	now := time.Now()
	e.departure = &booking.Departure{
		ID: booking.NewID(), Mode: booking.ModeTrain, Carrier: "DB", Number: "ICE 2", Origin: "BER", Destination: "HAM",
		DepartureTime: now.Add(48 * time.Hour), ArrivalTime: now.Add(50 * time.Hour), OriginTimeZone: "Europe/Berlin",
		FareClasses: []booking.FareClass{{Name: "second", Capacity: 2}}, Status: booking.DepartureScheduled,
		CreateTime: now, UpdateTime: now, Version: 1,
	}
	if _, err := e.store.CreateDeparture(t.Context(), e.departure, idempotency.Key{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *txEnv) reservation(customer string) *booking.Reservation {
	now := time.Now()
	return &booking.Reservation{
		ID: booking.NewID(), CustomerID: customer, Kind: booking.KindTrain, Quantity: 1, Travelers: []string{"X"},
		Price: money.Money{Amount: 100, Currency: "EUR"}, Status: booking.StatusHeld, HoldExpireTime: now.Add(time.Hour),
		ServiceStart: e.departure.DepartureTime, ServiceEnd: e.departure.ArrivalTime, CreateTime: now, UpdateTime: now, Version: 1,
		Seat: &booking.SeatItem{DepartureID: e.departure.ID, FareClass: "second"},
	}
}

func (e *txEnv) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// confirm is the domain change of a confirmation: one seat from held to sold.
func confirm(r *booking.Reservation) (booking.Change, error) {
	r.Status = booking.StatusConfirmed
	return booking.Change{Event: booking.EventConfirmed, Previous: booking.StatusHeld, HeldDelta: -1, SoldDelta: 1}, nil
}

// TestTransactionsCommitEventsOrNothing: a write transaction commits its rows and its
// events together, or, when it fails in any of its round trips, neither; either way its
// connection goes back to the pool outside any transaction.
func TestTransactionsCommitEventsOrNothing(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t)
	ctx := t.Context()
	notifiedBefore := e.notified // the departure's creation

	// Two holds fit; the third fails on the capacity check after its writes were sent.
	first, err := e.store.Hold(ctx, e.reservation("a"), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Hold(ctx, e.reservation("b"), idempotency.Key{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Hold(ctx, e.reservation("c"), idempotency.Key{}); !errors.Is(err, booking.ErrInsufficientAvailability) {
		t.Fatalf("third hold = %v, want ErrInsufficientAvailability", err)
	}
	// A failed domain change writes nothing; a confirmation writes its row, counters and event.
	errDomain := errors.New("refused")
	if _, err := e.store.UpdateReservation(ctx, first.ID, idempotency.Key{}, func(*booking.Reservation) (booking.Change, error) {
		return booking.Change{}, errDomain
	}); !errors.Is(err, errDomain) {
		t.Fatalf("refused change = %v, want the domain's error", err)
	}
	confirmed, err := e.store.UpdateReservation(ctx, first.ID, idempotency.Key{}, confirm)
	if err != nil {
		t.Fatal(err)
	}
	if confirmed.Version != 2 {
		t.Errorf("confirmed version %d, want 2", confirmed.Version)
	}

	if n := e.count(t, "SELECT count(*) FROM reservation"); n != 2 {
		t.Errorf("%d reservations, want 2", n)
	}
	if n := e.count(t, "SELECT held * 10 + sold FROM fare_class"); n != 11 {
		t.Errorf("held*10+sold = %d, want 1 held and 1 sold", n)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'booking.reservation.held'"); n != 2 {
		t.Errorf("%d held events, want 2", n)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'booking.reservation.confirmed'"); n != 1 {
		t.Errorf("%d confirmed events, want 1", n)
	}
	if got := e.notified - notifiedBefore; got != 3 {
		t.Errorf("Notify ran %d times, want once per commit with events (3)", got)
	}
	if n := e.count(t, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`); n != 0 {
		t.Errorf("%d connections left in a transaction", n)
	}
}

// TestTransactionRetriesAfterDeadlock: a transaction that PostgreSQL aborts to break a
// deadlock runs again and succeeds.
func TestTransactionRetriesAfterDeadlock(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t)
	ctx := t.Context()
	r, err := e.store.Hold(ctx, e.reservation("a"), idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	// Another transaction holds the fare class's counter row.
	other, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, `UPDATE fare_class SET position = position`); err != nil {
		t.Fatal(err)
	}
	// The confirmation locks the reservation, then waits for the counter row; the other
	// transaction then waits for the reservation. PostgreSQL aborts the one that waited
	// first (its deadlock_timeout expires first): the confirmation, which runs again once
	// the other transaction is gone.
	runs := 0
	done := make(chan error, 1)
	go func() {
		_, err := e.store.UpdateReservation(ctx, r.ID, idempotency.Key{}, func(r *booking.Reservation) (booking.Change, error) {
			runs++
			return confirm(r)
		})
		done <- err
	}()
	waitFor(t, func() bool {
		return e.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 1
	})
	_, err = other.Exec(ctx, `SELECT 1 FROM reservation WHERE id = $1 FOR UPDATE`, r.ID)
	if err != nil {
		t.Fatalf("the other transaction was chosen as the deadlock victim: %v", err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("confirmation after a deadlock: %v", err)
	}
	if runs != 2 {
		t.Errorf("the confirmation ran %d times, want 2 (once more after the deadlock)", runs)
	}
	if n := e.count(t, "SELECT held * 10 + sold FROM fare_class"); n != 1 {
		t.Errorf("held*10+sold = %d, want 1 sold", n)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'booking.reservation.confirmed'"); n != 1 {
		t.Errorf("%d confirmed events, want 1", n)
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached in 10 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
