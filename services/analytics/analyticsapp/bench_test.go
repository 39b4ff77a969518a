package analyticsapp_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/analytics/analyticsgrpc"
	"github.com/waybill/waybill/services/analytics/analyticspg"
	"github.com/waybill/waybill/services/analytics/sourceevents"
)

// fakeBooking is an event log named "booking" with booking's event types and payloads,
// served by the kit's real event stream, into which the benchmark writes reservation
// events directly (the booking service's own write path is not what is measured).
type fakeBooking struct {
	srv *grpctest.EventSource
	tx  *txn.Runner
}

func startFakeBooking(b *testing.B) *fakeBooking {
	src := grpctest.StartEventSource(b, "booking", sourceevents.Sources[0].Types)
	return &fakeBooking{srv: src, tx: src.Emit}
}

// reservationEvent is a confirmed reservation: every 3rd a 2-night stay at one of 20
// properties, the others 1 to 3 seats on one of 50 departures.
func reservationEvent(i int, at time.Time) outbox.Event {
	r := &bookingv1.Reservation{Id: ids.New(), CustomerId: "c", Status: bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED,
		Quantity: int32(1 + i%3), Price: &typev1.Money{AmountMinor: int64(10000 + i%7*100), CurrencyCode: "EUR"}}
	if i%3 == 0 {
		in := at.AddDate(0, 0, 10+i%20)
		r.Item = &bookingv1.Reservation_Stay{Stay: &bookingv1.StayItem{PropertyId: fmt.Sprintf("p%d", i%20), City: "berlin", Nights: 2,
			CheckInDate: &typev1.Date{Year: int32(in.Year()), Month: int32(in.Month()), Day: int32(in.Day())}}}
	} else {
		r.Item = &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{DepartureId: fmt.Sprintf("d%d", i%50), Origin: "FRA", Destination: "JFK",
			DepartureTime: timestamppb.New(at.AddDate(0, 0, 5+i%30))}}
	}
	return outbox.Event{Type: "booking.reservation.confirmed", Key: r.GetId(), Payload: &bookingv1.ReservationEvent{Reservation: r}}
}

// fill writes n events, 500 per transaction, and waits until they are sequenced.
func (f *fakeBooking) fill(b *testing.B, n int) int64 {
	now := time.Now()
	for i := 0; i < n; i += 500 {
		err := f.tx.Run(context.Background(), func(tx *txn.Tx) error {
			for j := i; j < min(i+500, n); j++ {
				tx.Emit(reservationEvent(j, now))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var head int64
	grpctest.Eventually(b, time.Minute, "the events sequenced", func() bool {
		var waiting int64
		err := f.srv.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM outbox), (SELECT coalesce(max(seq), 0) FROM event_log)`).Scan(&waiting, &head)
		return err == nil && waiting == 0
	})
	return head
}

// drain runs a consumer of the fake booking's log into a fresh analytics database with
// handler h until it has applied everything up to head, and returns how long it took.
func (f *fakeBooking) drain(b *testing.B, h consumer.Handler, pool *pgxpool.Pool, head int64) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = consumer.Run(ctx, consumer.Config{Name: "analytics-from-booking", Source: "booking", Pool: pool,
			Client: eventsv1.NewEventStreamServiceClient(f.srv.Conn(service)), PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL}, h)
	}()
	for {
		p, err := consumer.Cursor(ctx, pool, "analytics-from-booking", "booking")
		if err != nil {
			b.Fatal(err)
		}
		if p.Seq >= head {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	wg.Wait()
	return took
}

// BenchmarkProjection measures, in one run against one stream of 20,000 confirmed
// reservations: the raw consumer (a handler that does nothing, so only the stream, the
// batching and the cursor's transactions) and the consumer applying analytics'
// projection, each from an empty cursor into a fresh database (events/s both).
//
//	go test -run '^$' -bench Projection -benchtime 1x ./services/analytics/analyticsapp/
func BenchmarkProjection(b *testing.B) {
	const n = 20000
	f := startFakeBooking(b)
	head := f.fill(b, n)
	for range b.N {
		raw := f.drain(b, func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil },
			pgtest.NewDB(b, analyticsapp.Name, analyticspg.Migrations), head)
		pool := pgtest.NewDB(b, analyticsapp.Name, analyticspg.Migrations)
		projected := f.drain(b, analyticsapp.Handler(analyticspg.New(pool, analyticspg.Options{AlertEvent: analyticsgrpc.AlertEvent})), pool, head)
		b.ReportMetric(float64(n)/raw.Seconds(), "raw-events/s")
		b.ReportMetric(float64(n)/projected.Seconds(), "projected-events/s")
	}
}

// BenchmarkConfirmationToKPI measures the time from a confirmation's commit at the source
// to its booking being in analytics' tables (and so in every KPI read after), with
// confirmations arriving at the seed system's 10,000 a minute (one every 6 ms) for 20 s.
//
//	go test -run '^$' -bench ConfirmationToKPI -benchtime 1x ./services/analytics/analyticsapp/
func BenchmarkConfirmationToKPI(b *testing.B) {
	f := startFakeBooking(b)
	pool := pgtest.NewDB(b, analyticsapp.Name, analyticspg.Migrations)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = consumer.Run(ctx, consumer.Config{Name: "analytics-from-booking", Source: "booking", Pool: pool,
			Client: eventsv1.NewEventStreamServiceClient(f.srv.Conn(service)), PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL},
			analyticsapp.Handler(analyticspg.New(pool, analyticspg.Options{AlertEvent: analyticsgrpc.AlertEvent})))
	}()
	var mu sync.Mutex
	committed := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan struct{})
	go func() { // watch the projection
		defer close(done)
		seen := map[string]bool{}
		for ctx.Err() == nil {
			rows, err := pool.Query(ctx, `SELECT reservation_id FROM reservations`)
			if err != nil {
				return
			}
			now := time.Now()
			for rows.Next() {
				var id string
				_ = rows.Scan(&id)
				if !seen[id] {
					seen[id] = true
					mu.Lock()
					if t, ok := committed[id]; ok {
						lat = append(lat, now.Sub(t))
					}
					mu.Unlock()
				}
			}
			rows.Close()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	tick := time.NewTicker(6 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(20 * time.Second)
	total := 0
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		ev := reservationEvent(i, time.Now())
		if err := f.tx.Run(ctx, func(tx *txn.Tx) error { tx.Emit(ev); return nil }); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		committed[ev.Key] = time.Now()
		mu.Unlock()
		total++
	}
	grpctest.Eventually(b, 30*time.Second, "every confirmation visible", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lat) >= total-1
	})
	cancel()
	<-done
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(total)/20, "confirmations/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
