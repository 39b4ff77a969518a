package notificationevents_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/services/notification/notification"
	"github.com/waybill/waybill/services/notification/notificationevents"
	"github.com/waybill/waybill/services/notification/notificationtmpl"
)

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func event(t *testing.T, typ string, p proto.Message) *eventsv1.Event {
	t.Helper()
	a, err := anypb.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return &eventsv1.Event{Id: "ev-" + typ, Type: typ, Key: "k1", OccurredTime: timestamppb.New(now), Payload: a}
}

func eur(n int64) *typev1.Money { return &typev1.Money{AmountMinor: n, CurrencyCode: "EUR"} }

// samples are an event of every type that queues messages, with realistic payloads.
func samples(t *testing.T) []*eventsv1.Event {
	stay := &bookingv1.Reservation{Id: "r1", CustomerId: "c1", Price: eur(27000),
		Item:           &bookingv1.Reservation_Stay{Stay: &bookingv1.StayItem{PropertyName: "Hotel Adlon", CheckInDate: &typev1.Date{Year: 2026, Month: 12, Day: 20}, CheckOutDate: &typev1.Date{Year: 2026, Month: 12, Day: 23}}},
		HoldExpireTime: timestamppb.New(now.Add(30 * time.Minute))}
	seat := &bookingv1.Reservation{Id: "r2", CustomerId: "c1", Price: eur(30000),
		Item:         &bookingv1.Reservation_Seat{Seat: &bookingv1.SeatItem{Carrier: "LH", Number: "400", Origin: "FRA", Destination: "JFK", DepartureTime: timestamppb.New(now.Add(48 * time.Hour))}},
		Cancellation: &bookingv1.Cancellation{RefundableAmount: eur(15000)}}
	pay := &paymentv1.PaymentEvent{Payment: &paymentv1.Payment{Id: "p1", CustomerId: "c1", Reference: "bill-7"}, Operation: &paymentv1.PaymentOperation{Amount: eur(9000)}}
	return []*eventsv1.Event{
		event(t, "booking.reservation.held", &bookingv1.ReservationEvent{Reservation: stay}),
		event(t, "booking.reservation.confirmed", &bookingv1.ReservationEvent{Reservation: stay}),
		event(t, "booking.reservation.confirmed", &bookingv1.ReservationEvent{Reservation: seat}),
		event(t, "booking.reservation.cancelled", &bookingv1.ReservationEvent{Reservation: seat}),
		event(t, "booking.reservation.cancelled", &bookingv1.ReservationEvent{Reservation: stay}), // no refund
		event(t, "payment.payment.captured", pay),
		event(t, "payment.payment.refunded", pay),
		event(t, "billing.bill.paid", &billingv1.BillEvent{Bill: &billingv1.Bill{Id: "b1", CustomerId: "c1", Totals: []*typev1.Money{eur(9000), {AmountMinor: 500, CurrencyCode: "CHF"}}}}),
		event(t, "fare.fare.calculated", &farev1.FareEvent{Fare: &farev1.Fare{TripId: "t1", CustomerId: "c1", City: "berlin", Total: eur(1850)}}),
		event(t, "account.verification_code.issued", &accountv1.VerificationCodeIssuedEvent{AccountId: "c1", Kind: accountv1.ContactKind_CONTACT_KIND_PHONE,
			Destination: "+4915112345678", Code: "123456", CodeId: "code-1", ExpireTime: timestamppb.New(now.Add(10 * time.Minute)), Locale: "de-CH"}),
		event(t, "trip.trip.driver_assigned", &tripv1.TripEvent{Trip: &tripv1.Trip{Id: "t1", CustomerId: "c1", City: "berlin", Product: "standard",
			AssignTime: timestamppb.New(now)}}),
		event(t, "analytics.alert.raised", &analyticsv1.AlertEvent{Alert: &analyticsv1.AnalyticsAlert{Id: "a1", Rule: analyticsv1.AlertRule_ALERT_RULE_CONSUMER_LAG,
			Subject: "booking", Message: "booking is silent", RaiseTime: timestamppb.New(now)}}),
	}
}

// TestEveryTemplateRenders: every event that queues messages decodes into triggers whose
// template set exists, and every set renders in every locale, for email and SMS, from
// those payloads; every embedded set is used by some event.
func TestEveryTemplateRenders(t *testing.T) {
	r, err := notificationtmpl.New()
	if err != nil {
		t.Fatalf("templates: %v", err)
	}
	used := map[string]bool{}
	dec := notificationevents.Decoder{ReminderLead: 10 * time.Minute}
	for _, ev := range samples(t) {
		items, err := dec.Decode(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.GetType(), err)
		}
		triggers := 0
		for _, it := range items {
			tr, ok := it.(notification.Trigger)
			if !ok {
				continue
			}
			triggers++
			used[tr.Template] = true
			if !r.Has(tr.Template) {
				t.Errorf("%s: no template set %q", ev.GetType(), tr.Template)
				continue
			}
			for _, locale := range append(r.Locales(tr.Template), "fr") {
				for _, ch := range notification.Channels {
					out, err := r.Render(tr.Template, notification.Destination{Channel: ch, Locale: locale, Name: "Ada"}, tr.Data)
					if err != nil {
						t.Errorf("%s %s %s: %v", tr.Template, locale, ch, err)
						continue
					}
					if out.Text == "" || strings.Contains(out.Text, "<no value>") || (ch == notification.Email && (out.Subject == "" || out.HTML == "")) {
						t.Errorf("%s %s %s rendered %+v", tr.Template, locale, ch, out)
					}
				}
			}
		}
		if triggers == 0 {
			t.Errorf("%s queues nothing", ev.GetType())
		}
	}
	for _, set := range r.Sets() {
		if !used[set] {
			t.Errorf("template set %s is used by no event", set)
		}
	}
	// A German-Swiss customer gets the German text; a French one the English.
	items, _ := dec.Decode(samples(t)[9])
	code := items[0].(notification.Trigger)
	de, _ := r.Render(code.Template, notification.Destination{Channel: notification.SMS, Locale: "de-CH"}, code.Data)
	if de.Locale != "de" || !strings.Contains(de.Text, "Ihr Waybill-Code ist 123456") {
		t.Errorf("de-CH rendered %+v", de)
	}
	stay, _ := dec.Decode(samples(t)[1])
	html, _ := r.Render("booking.reservation.confirmed", notification.Destination{Channel: notification.Email, Name: "<script>x</script>"},
		stay[1].(notification.Trigger).Data)
	if strings.Contains(html.HTML, "<script>") {
		t.Errorf("the HTML part does not escape the name: %s", html.HTML)
	}
}

// TestHeldSchedulesAReminder: a hold queues its message now and a reminder before the
// hold expires; later reservation events settle the reminder.
func TestHeldSchedulesAReminder(t *testing.T) {
	items, err := notificationevents.Decoder{ReminderLead: 10 * time.Minute}.Decode(samples(t)[0])
	if err != nil || len(items) != 2 {
		t.Fatalf("held decoded to %v (%v)", items, err)
	}
	rem := items[1].(notification.Trigger)
	if rem.Template != notificationevents.ExpiringTemplate || !rem.SendAfter.Equal(now.Add(20*time.Minute)) || !rem.ExpiresAt.Equal(now.Add(30*time.Minute)) {
		t.Errorf("reminder %+v", rem)
	}
	confirmed, _ := notificationevents.Decoder{}.Decode(samples(t)[1])
	if s, ok := confirmed[0].(notification.Settle); !ok || s.Topic != "r1" {
		t.Errorf("confirmed decoded to %v, want the reminder settled first", confirmed)
	}
}

// TestBadTemplatesFailToLoad: a template that does not parse, lacks a part or a locale,
// fails when the templates load (so in tests and at start), never at a send.
func TestBadTemplatesFailToLoad(t *testing.T) {
	good := `{{define "subject"}}s{{end}}{{define "text"}}t{{end}}{{define "sms"}}m{{end}}`
	cases := map[string]fstest.MapFS{
		"syntax":       {"t/x/en.txt": {Data: []byte(`{{define "subject"}}{{.Data.X}{{end}}`)}, "t/x/en.html": {Data: []byte(`{{define "html"}}h{{end}}`)}},
		"no sms part":  {"t/x/en.txt": {Data: []byte(`{{define "subject"}}s{{end}}{{define "text"}}t{{end}}`)}, "t/x/en.html": {Data: []byte(`{{define "html"}}h{{end}}`)}},
		"no html file": {"t/x/en.txt": {Data: []byte(good)}},
		"no default":   {"t/x/de.txt": {Data: []byte(good)}, "t/x/de.html": {Data: []byte(`{{define "html"}}h{{end}}`)}},
	}
	for name, fsys := range cases {
		if _, err := notificationtmpl.Parse(fsys, "t"); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	ok, err := notificationtmpl.Parse(fstest.MapFS{"t/x/en.txt": {Data: []byte(`{{define "subject"}}{{.Data.Missing}}{{end}}{{define "text"}}t{{end}}{{define "sms"}}m{{end}}`)},
		"t/x/en.html": {Data: []byte(`{{define "html"}}h{{end}}`)}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ok.Render("x", notification.Destination{Channel: notification.Email}, map[string]any{}); err == nil {
		t.Error("a template naming a key the data lacks rendered (want missingkey=error)")
	}
}
