package notificationapp_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/notification/notification"
)

// TestRefusingSMTPServer: a server that refuses for a while gets the message later (with
// backoff between the attempts); one that keeps refusing gets it parked after the last
// attempt, visible to operators, who retry it (sent once the server accepts) or discard
// it; a customer cannot.
func TestRefusingSMTPServer(t *testing.T) {
	m := newMesh(t, nil)
	prop := m.property(t)
	ada := m.signUp(t, "ada@example.com", "+4915112345678", nil)
	ctx := grpctest.Context(t)

	emailOf := func(eventType string) *notificationv1.Notification {
		resp, err := m.opsNotes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{CustomerId: ada.id.Subject, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range resp.GetNotifications() {
			if n.GetEventType() == eventType && n.GetChannel() == notificationv1.NotificationChannel_NOTIFICATION_CHANNEL_EMAIL {
				return n
			}
		}
		return nil
	}

	t.Run("refuses twice, then accepts", func(t *testing.T) {
		m.smtp.setRefuse(2)
		ada.hold(t, prop, 3)
		grpctest.Eventually(t, 15*time.Second, "the held email sent", func() bool {
			n := emailOf("booking.reservation.held")
			return n != nil && n.GetStatus() == notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT
		})
		n := emailOf("booking.reservation.held")
		if n.GetAttempts() != 3 || m.smtp.refused() != 2 || n.GetSendTime() == nil {
			t.Errorf("attempts %d, refusals %d, send time %v: want 3 attempts after 2 refusals", n.GetAttempts(), m.smtp.refused(), n.GetSendTime())
		}
	})

	t.Run("keeps refusing: parked, retried, discarded", func(t *testing.T) {
		m.smtp.setRefuse(-1)
		r := ada.hold(t, prop, 4)
		ada.confirm(t, r.GetId())
		var held, confirmed *notificationv1.Notification
		grpctest.Eventually(t, 15*time.Second, "both emails parked", func() bool {
			resp, err := m.opsNotes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{
				Status: notificationv1.NotificationStatus_NOTIFICATION_STATUS_PARKED})
			if err != nil {
				t.Fatal(err)
			}
			held, confirmed = nil, nil
			for _, n := range resp.GetNotifications() {
				switch n.GetEventType() {
				case "booking.reservation.held":
					held = n
				case "booking.reservation.confirmed":
					confirmed = n
				}
			}
			return held != nil && confirmed != nil
		})
		if held.GetAttempts() != int32(notificationDefaultAttempts) || held.GetLastError() == "" {
			t.Errorf("parked after %d attempts with error %q, want %d and the server's refusal", held.GetAttempts(), held.GetLastError(), notificationDefaultAttempts)
		}
		_, err := ada.notes.RetryNotification(ctx, &notificationv1.RetryNotificationRequest{NotificationId: held.GetId()})
		grpctest.WantCode(t, err, codes.PermissionDenied)

		m.smtp.setRefuse(0)
		retried, err := m.opsNotes.RetryNotification(ctx, &notificationv1.RetryNotificationRequest{NotificationId: held.GetId()})
		if err != nil || retried.GetNotification().GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_PENDING {
			t.Fatalf("retry: %v (%v), want PENDING", retried.GetNotification().GetStatus(), err)
		}
		discarded, err := m.opsNotes.DiscardNotification(ctx, &notificationv1.DiscardNotificationRequest{NotificationId: confirmed.GetId()})
		if err != nil || discarded.GetNotification().GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_DISCARDED {
			t.Fatalf("discard: %v (%v), want DISCARDED", discarded.GetNotification().GetStatus(), err)
		}
		grpctest.Eventually(t, 10*time.Second, "the retried email sent", func() bool {
			got, err := m.opsNotes.GetNotification(ctx, &notificationv1.GetNotificationRequest{NotificationId: held.GetId()})
			return err == nil && got.GetNotification().GetStatus() == notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT
		})
		_, err = m.opsNotes.DiscardNotification(ctx, &notificationv1.DiscardNotificationRequest{NotificationId: held.GetId()})
		grpctest.WantReason(t, err, codes.FailedPrecondition, notification.ReasonNotParked)
		time.Sleep(200 * time.Millisecond) // a discarded message is never sent
		got, _ := m.opsNotes.GetNotification(ctx, &notificationv1.GetNotificationRequest{NotificationId: confirmed.GetId()})
		if got.GetNotification().GetStatus() != notificationv1.NotificationStatus_NOTIFICATION_STATUS_DISCARDED {
			t.Errorf("discarded message is %v", got.GetNotification().GetStatus())
		}
	})

	t.Run("deleted account: what waits is skipped", func(t *testing.T) {
		m.smtp.setRefuse(-1)
		r := ada.hold(t, prop, 5)
		var waiting *notificationv1.Notification
		grpctest.Eventually(t, 10*time.Second, "the held email queued", func() bool {
			resp, err := m.opsNotes.ListNotifications(ctx, &notificationv1.ListNotificationsRequest{CustomerId: ada.id.Subject, PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range resp.GetNotifications() {
				if n.GetEventType() == "booking.reservation.held" && n.GetChannel() == notificationv1.NotificationChannel_NOTIFICATION_CHANNEL_EMAIL &&
					strings.Contains(n.GetBody(), r.GetId()) {
					waiting = n
				}
			}
			return waiting != nil
		})
		accts := accountv1.NewAccountServiceClient(m.account.Conn(ada.id))
		if _, err := accts.DeleteAccount(ctx, &accountv1.DeleteAccountRequest{AccountId: ada.id.Subject, RequestId: ids.New()}); err != nil {
			t.Fatalf("delete account: %v", err)
		}
		grpctest.Eventually(t, 10*time.Second, "the waiting email skipped", func() bool {
			got, err := m.opsNotes.GetNotification(ctx, &notificationv1.GetNotificationRequest{NotificationId: waiting.GetId()})
			return err == nil && got.GetNotification().GetStatus() == notificationv1.NotificationStatus_NOTIFICATION_STATUS_SKIPPED
		})
		m.smtp.setRefuse(0)
	})
}

// notificationDefaultAttempts is newMesh's retry schedule's attempts.
const notificationDefaultAttempts = 4
