package notification_test

import (
	"testing"
	"time"

	"github.com/waybill/waybill/services/notification/notification"
)

func TestRoute(t *testing.T) {
	both := notification.Preference{Channels: []notification.Channel{notification.Email, notification.SMS}}
	c := &notification.Contact{CustomerID: "c1", Email: "a@x", Phone: "+491", EmailVerified: true, PhoneVerified: true,
		Preferences: map[notification.Category]notification.Preference{notification.Transactional: both, notification.RideUpdates: both}}
	ops := []notification.Destination{{Recipient: notification.OperatorsRecipient, Channel: notification.Email, Address: "ops@x"}}
	channels := func(ds []notification.Destination) string {
		s := ""
		for _, d := range ds {
			s += string(d.Channel) + ":" + d.Address + " "
		}
		return s
	}
	unverified := *c
	unverified.PhoneVerified = false
	optedOut := *c
	optedOut.Preferences = map[notification.Category]notification.Preference{notification.Transactional: {Channels: both.Channels, OptedOut: true}}
	emailOnly := *c
	emailOnly.Preferences = map[notification.Category]notification.Preference{notification.Transactional: {Channels: []notification.Channel{notification.Email}}}
	deleted := *c
	deleted.Deleted = true
	tx := notification.Trigger{Category: notification.Transactional}
	for _, tc := range []struct {
		name string
		t    notification.Trigger
		c    *notification.Contact
		want string
	}{
		{"both verified, both wanted", tx, c, "email:a@x sms:+491 "},
		{"unverified phone", tx, &unverified, "email:a@x "},
		{"opted out", tx, &optedOut, ""},
		{"email only", tx, &emailOnly, "email:a@x "},
		{"no preference for the category", notification.Trigger{Category: notification.RideUpdates}, &emailOnly, ""},
		{"deleted", tx, &deleted, ""},
		{"unknown customer", tx, nil, ""},
		{"code to an unverified contact", notification.Trigger{Category: notification.Verification,
			Destination: notification.Destination{Channel: notification.SMS, Address: "+499"}}, &optedOut, "sms:+499 "},
		{"operators", notification.Trigger{Category: notification.OperatorAlert}, nil, "email:ops@x "},
	} {
		if got := channels(notification.Route(tc.t, tc.c, ops)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	r := notification.Retry{Base: time.Second, Max: 10 * time.Second, Attempts: 5}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		if got := r.Delay(n); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
}
