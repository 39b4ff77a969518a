package notificationapp_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
	"github.com/waybill/waybill/services/analytics/analytics"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/booking/bookingapp"
	"github.com/waybill/waybill/services/fare/fareapp"
	"github.com/waybill/waybill/services/notification/notification"
	"github.com/waybill/waybill/services/notification/notificationapp"
	"github.com/waybill/waybill/services/notification/smssender"
	"github.com/waybill/waybill/services/payment/paymentapp"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild()) // this test binary, re-executed as the notification process
	}
	pgtest.Main(m)
}

var (
	operator = auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}
	service  = auth.Identity{Subject: "tests", Role: auth.RoleService}
)

// mesh is the real services whose events the notification service turns into messages
// (account, fare, booking, payment, and analytics for alerts), the notification service
// itself, a real SMTP server and an SMS gateway simulator behind a real HTTP server.
type mesh struct {
	fare, booking, payment, account, analytics, notification *grpctest.Server
	smtp                                                     *smtpServer
	sms                                                      *smssender.Simulator
	alerts                                                   *analytics.Service

	fareOps   farev1.FareServiceClient
	inventory bookingv1.InventoryServiceClient
	payments  paymentv1.PaymentServiceClient
	accounts  accountv1.AccountServiceClient
	opsNotes  notificationv1.NotificationServiceClient
}

func newMesh(t *testing.T, cfg func(*notificationapp.Config)) *mesh {
	t.Helper()
	m := &mesh{smtp: newSMTPServer(t), sms: smssender.NewSimulator()}
	gw := httptest.NewServer(m.sms)
	t.Cleanup(gw.Close)

	m.fare = grpctest.Start(t, fareapp.Spec())
	bc := bookingapp.DefaultConfig()
	bc.FareAddr, bc.SweepInterval = m.fare.Addr, 0
	bs := bookingapp.Spec()
	bs.Register = func(ctx context.Context, d serve.Deps) error { return bookingapp.Register(ctx, d, bc) }
	m.booking = grpctest.Start(t, bs)
	pc := paymentapp.DefaultConfig()
	pc.BackgroundInterval = 0
	ps := paymentapp.Spec()
	ps.Register = func(ctx context.Context, d serve.Deps) error { return paymentapp.Register(ctx, d, pc) }
	m.payment = grpctest.Start(t, ps)
	m.account = grpctest.Start(t, accountapp.Spec())
	ac := analyticsapp.DefaultConfig()
	ac.Sources = map[string]string{"booking": m.booking.Addr, "payment": "", "billing": "", "fare": ""}
	ac.AlertInterval = 0
	ac.Rules.CancellationRate, ac.Rules.MinBookings = 0.25, 1
	ac.Service = func(s *analytics.Service) { m.alerts = s }
	as := analyticsapp.Spec()
	as.Register = func(ctx context.Context, d serve.Deps) error { return analyticsapp.Register(ctx, d, ac) }
	m.analytics = grpctest.Start(t, as)

	nc := notificationapp.DefaultConfig()
	nc.Sources = map[string]string{"account": m.account.Addr, "booking": m.booking.Addr, "payment": m.payment.Addr,
		"billing": "", "fare": "", "analytics": m.analytics.Addr}
	nc.SMTPAddr, nc.SMS = m.smtp.addr, gw.URL
	nc.OperatorEmails, nc.OperatorPhones = "ops@example.com", "+4930000001"
	nc.Poll = 20 * time.Millisecond
	nc.Retry = notification.Retry{Base: 50 * time.Millisecond, Max: 200 * time.Millisecond, Attempts: 4}
	nc.Reconnect = consumer.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	if cfg != nil {
		cfg(&nc)
	}
	ns := notificationapp.Spec()
	ns.Register = func(ctx context.Context, d serve.Deps) error { return notificationapp.Register(ctx, d, nc) }
	m.notification = grpctest.Start(t, ns)

	m.fareOps, m.inventory = fareClient(m.fare), inventoryClient(m.booking)
	m.payments = paymentv1.NewPaymentServiceClient(m.payment.Conn(service))
	m.accounts = accountv1.NewAccountServiceClient(m.account.Conn(operator))
	m.opsNotes = notificationv1.NewNotificationServiceClient(m.notification.Conn(operator))
	return m
}

// customer is a customer signed up with the account service.
type customer struct {
	id           auth.Identity
	email, phone string
	res          bookingv1.ReservationServiceClient
	notes        notificationv1.NotificationServiceClient
}

// signUp creates an account with an email address and a phone number and verifies both
// with the codes the notification service delivers (by SMTP and by SMS), as a customer
// would; then waits until the notification service holds both as verified.
func (m *mesh) signUp(t *testing.T, email, phone string, prefs *accountv1.Preferences) customer {
	t.Helper()
	c := customer{id: auth.Identity{Subject: ids.New(), Role: auth.RoleCustomer}, email: email, phone: phone}
	c.res = bookingv1.NewReservationServiceClient(m.booking.Conn(c.id))
	c.notes = notificationv1.NewNotificationServiceClient(grpctest.Dial(t, m.notification.Addr, c.id))
	accts := accountv1.NewAccountServiceClient(m.account.Conn(c.id))
	ctx := grpctest.Context(t)
	_, err := accts.CreateAccount(ctx, &accountv1.CreateAccountRequest{RequestId: ids.New(), Account: &accountv1.Account{
		Profile: &accountv1.Profile{DisplayName: "Ada", Locale: "en"},
		Email:   &accountv1.Contact{Address: email}, Phone: &accountv1.Contact{Address: phone}, Preferences: prefs}})
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	for _, kind := range []accountv1.ContactKind{accountv1.ContactKind_CONTACT_KIND_EMAIL, accountv1.ContactKind_CONTACT_KIND_PHONE} {
		if _, err := accts.SendVerificationCode(ctx, &accountv1.SendVerificationCodeRequest{AccountId: c.id.Subject, Kind: kind, RequestId: ids.New()}); err != nil {
			t.Fatalf("send code: %v", err)
		}
		var code string
		grpctest.Eventually(t, 10*time.Second, "the code delivered", func() bool {
			code = m.codeFor(email, phone, kind)
			return code != ""
		})
		if _, err := accts.VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: c.id.Subject, Kind: kind, Code: code, RequestId: ids.New()}); err != nil {
			t.Fatalf("verify with the delivered code %s: %v", code, err)
		}
	}
	grpctest.Eventually(t, 10*time.Second, "the notification service holds the verified contacts", func() bool {
		var both bool
		err := m.notification.Pool.QueryRow(context.Background(),
			`SELECT email_verified AND phone_verified FROM contacts WHERE customer_id = $1`, c.id.Subject).Scan(&both)
		return err == nil && both
	})
	return c
}

// codeFor returns the code delivered to the email address or phone number, if any.
func (m *mesh) codeFor(email, phone string, kind accountv1.ContactKind) string {
	if kind == accountv1.ContactKind_CONTACT_KIND_EMAIL {
		for _, r := range m.smtp.messages() {
			if strings.Contains(r.To, email) && strings.Contains(r.Subject, "code") {
				return sixDigits.FindString(r.Subject)
			}
		}
		return ""
	}
	for _, r := range m.sms.Delivered() {
		if r.To == phone && strings.Contains(r.Body, "code") {
			return sixDigits.FindString(r.Body)
		}
	}
	return ""
}

func eur(n int64) *typev1.Money { return &typev1.Money{AmountMinor: n, CurrencyCode: "EUR"} }

// property creates a hotel whose doubles cost 90.00 EUR a night and refund fully a day
// ahead.
func (m *mesh) property(t *testing.T) string {
	t.Helper()
	resp, err := m.inventory.CreateProperty(grpctest.Context(t), &bookingv1.CreatePropertyRequest{Property: &bookingv1.Property{
		Name: "Hotel Adlon", City: "berlin", Address: "Unter den Linden 77", TimeZone: "UTC",
		Location: &typev1.GeoPoint{Latitude: 52.5, Longitude: 13.38},
		RoomTypes: []*bookingv1.RoomType{{Name: "double", NightlyCapacity: 10, MaxGuests: 2,
			CancellationPolicy: &bookingv1.CancellationPolicy{Rules: []*bookingv1.CancellationRule{{MinNotice: durationpb.New(24 * time.Hour), RefundBps: 10000}}}}},
	}})
	if err != nil {
		t.Fatalf("create property: %v", err)
	}
	id := resp.GetProperty().GetId()
	if _, err := m.fareOps.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: &farev1.RateCard{
		ProductKey:   &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{PropertyId: id, RoomType: "double"}}},
		CurrencyCode: "EUR", Pricing: &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(9000)}},
	}}); err != nil {
		t.Fatalf("create rate card: %v", err)
	}
	return id
}

func date(t time.Time) *typev1.Date {
	y, mo, d := t.UTC().Date()
	return &typev1.Date{Year: int32(y), Month: int32(mo), Day: int32(d)}
}

// hold holds a room for c from day `in` to `in+1` days from now.
func (c customer) hold(t *testing.T, propertyID string, in int) *bookingv1.Reservation {
	t.Helper()
	day := time.Now().UTC().AddDate(0, 0, in)
	resp, err := c.res.CreateReservation(grpctest.Context(t), &bookingv1.CreateReservationRequest{Reservation: &bookingv1.Reservation{
		Item: &bookingv1.Reservation_Stay{Stay: &bookingv1.StayItem{PropertyId: propertyID, RoomType: "double",
			CheckInDate: date(day), CheckOutDate: date(day.AddDate(0, 0, 1)), GuestCount: 1}},
		Quantity: 1, Travelers: []*bookingv1.Traveler{{FullName: "Ada"}}}})
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	return resp.GetReservation()
}

func (c customer) confirm(t *testing.T, id string) {
	t.Helper()
	if _, err := c.res.ConfirmReservation(grpctest.Context(t), &bookingv1.ConfirmReservationRequest{ReservationId: id}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
}

func (c customer) cancel(t *testing.T, id string) {
	t.Helper()
	if _, err := c.res.CancelReservation(grpctest.Context(t), &bookingv1.CancelReservationRequest{ReservationId: id, Reason: "plans changed"}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}

// payAndRefund authorizes, captures and partly refunds a payment of c's.
func (m *mesh) payAndRefund(t *testing.T, c customer) {
	t.Helper()
	ctx := grpctest.Context(t)
	pm, err := m.payments.CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{CustomerId: c.id.Subject,
		Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: "tok_sim_visa"}, RequestId: ids.New()})
	if err != nil {
		t.Fatalf("payment method: %v", err)
	}
	p, err := m.payments.AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: pm.GetPaymentMethod().GetId(),
		Amount: eur(9000), Reference: "stay", RequestId: ids.New()})
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	id := p.GetPayment().GetId()
	if _, err := m.payments.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{PaymentId: id, Amount: eur(9000), RequestId: ids.New()}); err != nil {
		t.Fatalf("capture: %v", err)
	}
	if _, err := m.payments.RefundPayment(ctx, &paymentv1.RefundPaymentRequest{PaymentId: id, Amount: eur(2000), Reason: "goodwill", RequestId: ids.New()}); err != nil {
		t.Fatalf("refund: %v", err)
	}
}

// queued returns the messages queued for a customer (or "operators"), by
// "event_type/channel", with their statuses.
func queued(t *testing.T, pool *pgxpool.Pool, customerID string) map[string][]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_type || '/' || channel, status FROM messages WHERE customer_id = $1`, customerID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var k, st string
		if err := rows.Scan(&k, &st); err != nil {
			t.Fatal(err)
		}
		out[k] = append(out[k], st)
	}
	return out
}

func fareClient(s *grpctest.Server) farev1.FareServiceClient {
	return farev1.NewFareServiceClient(s.Conn(operator))
}

func inventoryClient(s *grpctest.Server) bookingv1.InventoryServiceClient {
	return bookingv1.NewInventoryServiceClient(s.Conn(operator))
}
