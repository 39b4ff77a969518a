package notificationapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/notification/notificationapp"
)

// TestEachEventOnceEachChannel: a customer signs up and verifies both contacts with the
// codes the service delivers; then a hold, its confirmation, a cancellation, a payment's
// capture and refund, and an analytics alert each produce exactly one message per
// channel, rendered from the event, accepted by the real SMTP server and the SMS gateway;
// the hold's reminder is skipped because the reservation was confirmed first.
func TestEachEventOnceEachChannel(t *testing.T) {
	m := newMesh(t, func(c *notificationapp.Config) { c.ReminderLead = time.Minute })
	ada := m.signUp(t, "ada@example.com", "+4915112345678", nil)
	prop := m.property(t)
	r := ada.hold(t, prop, 10)
	ada.confirm(t, r.GetId())
	ada.cancel(t, r.GetId())
	m.payAndRefund(t, ada)

	events := []string{"booking.reservation.held", "booking.reservation.confirmed", "booking.reservation.cancelled",
		"payment.payment.captured", "payment.payment.refunded", "account.verification_code.issued"}
	want := map[string][]string{"booking.reservation.expiring/email": {"skipped"}, "booking.reservation.expiring/sms": {"skipped"}}
	for _, e := range events {
		want[e+"/email"], want[e+"/sms"] = []string{"sent"}, []string{"sent"}
	}
	grpctest.Eventually(t, 20*time.Second, "every message sent once", func() bool {
		return fmt.Sprint(queued(t, m.notification.Pool, ada.id.Subject)) == fmt.Sprint(want)
	})

	// What the servers received: one email and one SMS per event, none twice.
	emails, texts := map[string]int{}, map[string]int{}
	ids := map[string]bool{}
	for _, r := range m.smtp.messages() {
		if r.To == ada.email {
			emails[r.Subject]++
			if ids[r.MessageID] {
				t.Errorf("Message-ID %s received twice", r.MessageID)
			}
			ids[r.MessageID] = true
		}
	}
	for _, r := range m.sms.Delivered() {
		if r.To == ada.phone {
			texts[strings.Fields(r.Body)[1]]++
		}
	}
	if len(ids) != len(events) {
		t.Errorf("emails to ada: %v, want one per event (%d)", emails, len(events))
	}
	if n := len(m.sms.Delivered()); n != len(events) {
		t.Errorf("%d SMS delivered, want %d: %v", n, len(events), m.sms.Delivered())
	}
	for subject, n := range emails {
		if n != 1 {
			t.Errorf("email %q received %d times", subject, n)
		}
	}
	confirmed := false
	for _, r := range m.smtp.messages() {
		if strings.HasPrefix(r.Subject, "Confirmed: Hotel Adlon") && strings.Contains(r.Raw, r.MessageID[1:len(r.MessageID)-1]) &&
			strings.Contains(r.Raw, "90.00 EUR") && strings.Contains(r.Raw, "text/html") {
			confirmed = true
		}
	}
	if !confirmed {
		t.Errorf("no confirmation email rendered from the event (property name, price, HTML part) among %v", emails)
	}

	// The alert: one message to each operator destination.
	if _, _, err := m.alerts.EvaluateAlerts(grpctest.Context(t)); err != nil {
		t.Fatal(err)
	}
	wantOps := map[string][]string{"analytics.alert.raised/email": {"sent"}, "analytics.alert.raised/sms": {"sent"}}
	grpctest.Eventually(t, 20*time.Second, "the operators alerted", func() bool {
		return fmt.Sprint(queued(t, m.notification.Pool, "operators")) == fmt.Sprint(wantOps)
	})
	alerted := 0
	for _, r := range m.smtp.messages() {
		if r.To == "ops@example.com" && strings.Contains(r.Subject, "cancellation_rate") {
			alerted++
		}
	}
	if alerted != 1 {
		t.Errorf("%d alert emails to the operator, want 1", alerted)
	}

	t.Run("customers see their own", func(t *testing.T) {
		ctx := grpctest.Context(t)
		own, err := ada.notes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{PageSize: 5})
		if err != nil || len(own.GetNotifications()) != 5 || own.GetNextPageToken() == "" {
			t.Fatalf("ada's first page: %d, token %q (%v), want 5 and a next page", len(own.GetNotifications()), own.GetNextPageToken(), err)
		}
		rest, err := ada.notes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{PageSize: 100, PageToken: own.GetNextPageToken()})
		if err != nil || len(own.GetNotifications())+len(rest.GetNotifications()) != 2*len(events)+2 {
			t.Fatalf("ada's messages: %d + %d (%v), want %d", len(own.GetNotifications()), len(rest.GetNotifications()), err, 2*len(events)+2)
		}
		for _, n := range append(own.GetNotifications(), rest.GetNotifications()...) {
			if n.GetCustomerId() != ada.id.Subject {
				t.Errorf("ada sees %s's message", n.GetCustomerId())
			}
		}
		bob := m.signUp(t, "bob@example.com", "+4915112345679", nil)
		_, err = bob.notes.GetNotification(ctx, &notificationv1.GetNotificationRequest{NotificationId: own.GetNotifications()[0].GetId()})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = bob.notes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{CustomerId: ada.id.Subject})
		grpctest.WantCode(t, err, codes.PermissionDenied)
		_, err = bob.notes.RetryNotification(ctx, &notificationv1.RetryNotificationRequest{NotificationId: own.GetNotifications()[0].GetId()})
		grpctest.WantCode(t, err, codes.PermissionDenied)
		_, err = bob.notes.GetNotification(ctx, &notificationv1.GetNotificationRequest{NotificationId: "not-a-uuid"})
		grpctest.WantField(t, err, "notification_id")
		all, err := m.opsNotes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{CustomerId: "operators"})
		if err != nil || len(all.GetNotifications()) != 2 {
			t.Fatalf("operators' alerts seen by an operator: %v (%v)", all.GetNotifications(), err)
		}
	})
}

// TestOptOut: a customer who opted out of transactional messages, and one who wants them
// by email only, get exactly what they chose; a verification code still goes out.
func TestOptOut(t *testing.T) {
	m := newMesh(t, func(c *notificationapp.Config) { c.ReminderLead = 0 })
	prop := m.property(t)
	out := m.signUp(t, "out@example.com", "+4915100000001", nil)
	emailOnly := m.signUp(t, "mail@example.com", "+4915100000002", nil)
	for c, pref := range map[customer]*accountv1.CategoryPreference{
		out:       {Channels: []accountv1.Channel{accountv1.Channel_CHANNEL_EMAIL, accountv1.Channel_CHANNEL_SMS}, OptedOut: true},
		emailOnly: {Channels: []accountv1.Channel{accountv1.Channel_CHANNEL_EMAIL}},
	} {
		_, err := accountv1.NewAccountServiceClient(m.account.Conn(c.id)).UpdateAccount(grpctest.Context(t), &accountv1.UpdateAccountRequest{
			Account:    &accountv1.Account{Id: c.id.Subject, Preferences: &accountv1.Preferences{Transactional: pref}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"preferences"}}, RequestId: ids.New()})
		if err != nil {
			t.Fatalf("update preferences: %v", err)
		}
	}
	// Account's update and booking's events come on different streams: wait until the
	// preferences arrived before booking.
	grpctest.Eventually(t, 10*time.Second, "the preferences applied", func() bool {
		var n int
		err := m.notification.Pool.QueryRow(context.Background(), `SELECT count(*) FROM contacts
			WHERE customer_id = ANY($1) AND preferences->'transactional' IS NOT NULL
			  AND (preferences->'transactional'->>'OptedOut')::boolean
			   OR (customer_id = $2 AND jsonb_array_length(preferences->'transactional'->'Channels') = 1)`,
			[]string{out.id.Subject}, emailOnly.id.Subject).Scan(&n)
		return err == nil && n == 2
	})
	for _, c := range []customer{out, emailOnly} {
		r := c.hold(t, prop, 5)
		c.confirm(t, r.GetId())
	}
	want := map[string][]string{"booking.reservation.held/email": {"sent"}, "booking.reservation.confirmed/email": {"sent"}}
	var got map[string][]string
	grpctest.Eventually(t, 20*time.Second, "the email-only customer's messages", func() bool {
		got = queued(t, m.notification.Pool, emailOnly.id.Subject)
		delete(got, "account.verification_code.issued/email")
		delete(got, "account.verification_code.issued/sms")
		return fmt.Sprint(got) == fmt.Sprint(want)
	})
	got = queued(t, m.notification.Pool, out.id.Subject)
	delete(got, "account.verification_code.issued/email")
	delete(got, "account.verification_code.issued/sms")
	if len(got) != 0 {
		t.Errorf("the opted-out customer got %v, want nothing", got)
	}
}
