package notificationapp_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/notification/notification"
	"github.com/waybill/waybill/services/notification/notificationapp"
	"github.com/waybill/waybill/services/notification/notificationevents"
)

// BenchmarkSendLatency measures the time from a reservation event's commit at the source
// to the SMTP server's acceptance of its email, at 50 events a second for 10 s: a real
// event stream ("booking", written directly), the notification service with its
// consumer, queue and workers, and a real SMTP server on loopback.
//
//	go test -run '^$' -bench SendLatency -benchtime 1x ./services/notification/notificationapp/
func BenchmarkSendLatency(b *testing.B) {
	smtpSrv := newSMTPServer(b)
	src := grpctest.StartEventSource(b, "booking", notificationevents.Sources[1].Types)
	emit := src.Emit
	nc := notificationapp.DefaultConfig()
	nc.Sources = map[string]string{"booking": src.Addr}
	nc.SMTPAddr, nc.Poll, nc.ReminderLead = smtpSrv.addr, 20*time.Millisecond, 0
	ns := notificationapp.Spec()
	ns.Register = func(ctx context.Context, d serve.Deps) error { return notificationapp.Register(ctx, d, nc) }
	svc := grpctest.Start(b, ns)
	// One customer with a verified email address and email-only preferences.
	if _, err := svc.Pool.Exec(context.Background(), `INSERT INTO contacts (customer_id, email, email_verified, preferences, version)
		VALUES ('c1', 'ada@example.com', true, '{"transactional": {"Channels": ["email"], "OptedOut": false}}', 1)`); err != nil {
		b.Fatal(err)
	}
	committed := map[string]time.Time{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		<-tick.C
		r := &bookingv1.Reservation{Id: ids.New(), CustomerId: "c1", Price: &typev1.Money{AmountMinor: 9000, CurrencyCode: "EUR"},
			Item: &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{Carrier: "LH", Number: "400", Origin: "FRA", Destination: "JFK",
				DepartureTime: timestamppb.New(time.Now().Add(48 * time.Hour))}}, HoldExpireTime: timestamppb.New(time.Now().Add(time.Hour))}
		if err := emit.Run(context.Background(), func(tx *txn.Tx) error {
			tx.Emit(outbox.Event{Type: "booking.reservation.confirmed", Key: r.GetId(), Payload: &bookingv1.ReservationEvent{Reservation: r}})
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		committed[r.GetId()] = time.Now()
	}
	grpctest.Eventually(b, 30*time.Second, "every email accepted", func() bool { return len(smtpSrv.messages()) >= len(committed) })
	topics := map[string]string{} // message id → reservation id
	rows, err := svc.Pool.Query(context.Background(), `SELECT id::text, topic FROM messages WHERE status = $1`, string(notification.Sent))
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id, topic string
		_ = rows.Scan(&id, &topic)
		topics[id] = topic
	}
	rows.Close()
	var lat []time.Duration
	for _, m := range smtpSrv.messages() {
		id, _, _ := strings.Cut(strings.Trim(m.MessageID, "<>"), "@")
		if t, ok := committed[topics[id]]; ok {
			lat = append(lat, m.At.Sub(t))
		}
	}
	if len(lat) != len(committed) {
		b.Fatalf("%d latencies for %d events", len(lat), len(committed))
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/10, "emails/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
