// Package notificationevents turns the events the notification service consumes into
// what they mean to it: triggers (a message to render and queue), contact updates (the
// account service's contacts and preferences), and settlements (a later event that makes
// pending reminders about the same reservation pointless). It is the only place of the
// notification service where the sources' generated types meet its domain.
package notificationevents

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/notification/notification"
)

// Source is one service the notification service consumes, and the event types it reads.
type Source struct {
	Name  string
	Types []string
}

// Sources are every source, in a fixed order. Account comes first: its contacts decide
// where the others' messages go.
var Sources = []Source{
	{Name: "account", Types: []string{"account.account.created", "account.account.updated", "account.contact.verified",
		"account.account.deleted", "account.verification_code.issued"}},
	{Name: "booking", Types: []string{"booking.reservation.held", "booking.reservation.confirmed",
		"booking.reservation.cancelled", "booking.reservation.expired"}},
	{Name: "payment", Types: []string{"payment.payment.captured", "payment.payment.refunded"}},
	{Name: "billing", Types: []string{"billing.bill.paid"}},
	{Name: "fare", Types: []string{"fare.fare.calculated"}},
	{Name: "analytics", Types: []string{"analytics.alert.raised"}},
	{Name: "trip", Types: []string{"trip.trip.driver_assigned"}},
}

// ExpiringTemplate is the template set of the reminder sent before a hold expires.
const ExpiringTemplate = "booking.reservation.expiring"

// Decoder decodes events.
type Decoder struct {
	// ReminderLead is how long before a hold's expiry its reminder is sent; 0 sends none.
	ReminderLead time.Duration
}

// Decode returns what ev means to the notification service: notification.Trigger,
// notification.Contact (an update to apply when newer) and notification.Settle values, in order; none
// for an event it ignores. A missing or malformed payload is an error.
func (d Decoder) Decode(ev *eventsv1.Event) ([]any, error) {
	typ, at := ev.GetType(), ev.GetOccurredTime().AsTime()
	base := notification.Trigger{EventID: ev.GetId(), Template: typ, Topic: ev.GetKey()}
	switch {
	case typ == "account.verification_code.issued":
		var p accountv1.VerificationCodeIssuedEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		ch := notification.Email
		if p.GetKind() == accountv1.ContactKind_CONTACT_KIND_PHONE {
			ch = notification.SMS
		}
		t := base
		t.EventID = p.GetCodeId() // deliver each code once, whatever event carries it
		t.CustomerID, t.Category = p.GetAccountId(), notification.Verification
		t.Destination = notification.Destination{Recipient: p.GetAccountId(), Channel: ch, Address: p.GetDestination(),
			Locale: p.GetLocale(), Name: p.GetDisplayName()}
		t.ExpiresAt = p.GetExpireTime().AsTime()
		t.Data = map[string]any{"Code": p.GetCode(), "Expires": clock(p.GetExpireTime().AsTime())}
		return []any{t}, nil
	case strings.HasPrefix(typ, "account."):
		acct, err := account(ev)
		if err != nil {
			return nil, err
		}
		return []any{contact(acct)}, nil
	case strings.HasPrefix(typ, "booking.reservation."):
		var p bookingv1.ReservationEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		return d.reservation(base, typ, p.GetReservation(), at), nil
	case strings.HasPrefix(typ, "payment.payment."):
		var p paymentv1.PaymentEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		t := base
		t.CustomerID, t.Category = p.GetPayment().GetCustomerId(), notification.Transactional
		t.Data = map[string]any{"ID": p.GetPayment().GetId(), "Reference": p.GetPayment().GetReference(),
			"Amount": format(p.GetOperation().GetAmount())}
		return []any{t}, nil
	case typ == "billing.bill.paid":
		var p billingv1.BillEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		totals := make([]string, 0, len(p.GetBill().GetTotals()))
		for _, m := range p.GetBill().GetTotals() {
			totals = append(totals, format(m))
		}
		t := base
		t.CustomerID, t.Category = p.GetBill().GetCustomerId(), notification.Transactional
		t.Data = map[string]any{"ID": p.GetBill().GetId(), "Total": strings.Join(totals, " + ")}
		return []any{t}, nil
	case typ == "fare.fare.calculated":
		var p farev1.FareEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		t := base
		t.CustomerID, t.Category = p.GetFare().GetCustomerId(), notification.RideUpdates
		t.Data = map[string]any{"TripID": p.GetFare().GetTripId(), "City": p.GetFare().GetCity(), "Total": format(p.GetFare().GetTotal())}
		return []any{t}, nil
	case typ == "trip.trip.driver_assigned":
		var p tripv1.TripEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		tr := p.GetTrip()
		t := base
		t.CustomerID, t.Category = tr.GetCustomerId(), notification.RideUpdates
		t.Data = map[string]any{"TripID": tr.GetId(), "City": tr.GetCity(), "Product": tr.GetProduct(),
			"Assigned": clock(tr.GetAssignTime().AsTime())}
		return []any{t}, nil
	case typ == "analytics.alert.raised":
		var p analyticsv1.AlertEvent
		if err := unpack(ev, &p); err != nil {
			return nil, err
		}
		a := p.GetAlert()
		t := base
		t.CustomerID, t.Category = notification.OperatorsRecipient, notification.OperatorAlert
		t.Data = map[string]any{"ID": a.GetId(), "Rule": strings.ToLower(strings.TrimPrefix(a.GetRule().String(), "ALERT_RULE_")),
			"Subject": a.GetSubject(), "Message": a.GetMessage(), "Raised": clock(a.GetRaiseTime().AsTime())}
		return []any{t}, nil
	}
	return nil, nil
}

// reservation decodes a reservation event: the message for held, confirmed and cancelled
// (and a reminder before a hold expires), and the settlement of the reminders once the
// reservation leaves HELD.
func (d Decoder) reservation(base notification.Trigger, typ string, r *bookingv1.Reservation, at time.Time) []any {
	data := map[string]any{"ID": r.GetId(), "Title": title(r), "Price": format(r.GetPrice()),
		"HoldExpires": clock(r.GetHoldExpireTime().AsTime()), "Refund": ""}
	if c := r.GetCancellation(); c.GetRefundableAmount().GetAmountMinor() > 0 {
		data["Refund"] = format(c.GetRefundableAmount())
	}
	t := base
	t.CustomerID, t.Category, t.Data, t.Topic = r.GetCustomerId(), notification.Transactional, data, r.GetId()
	var out []any
	if typ != "booking.reservation.held" {
		out = append(out, notification.Settle{Topic: r.GetId()})
	}
	switch typ {
	case "booking.reservation.held":
		out = append(out, t)
		expire := r.GetHoldExpireTime().AsTime()
		if d.ReminderLead > 0 && expire.Sub(at) > d.ReminderLead {
			rem := t
			rem.Template = ExpiringTemplate
			rem.EventID = base.EventID + "/expiring"
			rem.SendAfter, rem.ExpiresAt = expire.Add(-d.ReminderLead), expire
			out = append(out, rem)
		}
	case "booking.reservation.confirmed", "booking.reservation.cancelled":
		out = append(out, t)
	}
	return out
}

func title(r *bookingv1.Reservation) string {
	if s := r.GetStay(); s != nil {
		name := s.GetPropertyName()
		if name == "" {
			name = "your stay"
		}
		return fmt.Sprintf("%s, %s to %s", name, date(s.GetCheckInDate()), date(s.GetCheckOutDate()))
	}
	if s := r.GetSeat(); s != nil {
		return fmt.Sprintf("%s %s %s → %s, %s", s.GetCarrier(), s.GetNumber(), s.GetOrigin(), s.GetDestination(),
			clock(s.GetDepartureTime().AsTime()))
	}
	return r.GetId()
}

func date(d *typev1.Date) string {
	return fmt.Sprintf("%04d-%02d-%02d", d.GetYear(), d.GetMonth(), d.GetDay())
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func format(m *typev1.Money) string {
	return money.Format(m.GetAmountMinor(), m.GetCurrencyCode()) + " " + m.GetCurrencyCode()
}

func unpack(ev *eventsv1.Event, m proto.Message) error {
	if ev.GetPayload() == nil {
		return fmt.Errorf("event %s (%s) has no payload", ev.GetId(), ev.GetType())
	}
	if err := ev.GetPayload().UnmarshalTo(m); err != nil {
		return fmt.Errorf("event %s (%s): payload: %w", ev.GetId(), ev.GetType(), err)
	}
	return nil
}

// account returns the account of any account event but the code's.
func account(ev *eventsv1.Event) (*accountv1.Account, error) {
	var m interface {
		proto.Message
		GetAccount() *accountv1.Account
	}
	switch ev.GetType() {
	case "account.account.created":
		m = &accountv1.AccountCreatedEvent{}
	case "account.account.updated":
		m = &accountv1.AccountUpdatedEvent{}
	case "account.contact.verified":
		m = &accountv1.ContactVerifiedEvent{}
	case "account.account.deleted":
		m = &accountv1.AccountDeletedEvent{}
	case "account.account.suspended":
		m = &accountv1.AccountSuspendedEvent{}
	case "account.account.reinstated":
		m = &accountv1.AccountReinstatedEvent{}
	default:
		return nil, fmt.Errorf("unknown account event %s", ev.GetType())
	}
	if err := unpack(ev, m); err != nil {
		return nil, err
	}
	return m.GetAccount(), nil
}

// contact is the notification service's copy of an account.
func contact(a *accountv1.Account) notification.Contact {
	c := notification.Contact{CustomerID: a.GetId(), Version: a.GetVersion(),
		Deleted: a.GetStatus() == accountv1.AccountStatus_ACCOUNT_STATUS_DELETED}
	if c.Deleted {
		return c
	}
	c.Email, c.Phone = a.GetEmail().GetAddress(), a.GetPhone().GetAddress()
	c.EmailVerified = a.GetEmail().GetState() == accountv1.VerificationState_VERIFICATION_STATE_VERIFIED
	c.PhoneVerified = a.GetPhone().GetState() == accountv1.VerificationState_VERIFICATION_STATE_VERIFIED
	c.Locale, c.Name = a.GetProfile().GetLocale(), a.GetProfile().GetDisplayName()
	c.Preferences = map[notification.Category]notification.Preference{
		notification.Transactional: preference(a.GetPreferences().GetTransactional()),
		notification.RideUpdates:   preference(a.GetPreferences().GetRideUpdates()),
	}
	return c
}

func preference(p *accountv1.CategoryPreference) notification.Preference {
	if p == nil { // the account's default for these categories: both channels, subscribed
		return notification.Preference{Channels: []notification.Channel{notification.Email, notification.SMS}}
	}
	out := notification.Preference{OptedOut: p.GetOptedOut()}
	for _, ch := range p.GetChannels() {
		switch ch {
		case accountv1.Channel_CHANNEL_EMAIL:
			out.Channels = append(out.Channels, notification.Email)
		case accountv1.Channel_CHANNEL_SMS:
			out.Channels = append(out.Channels, notification.SMS)
		}
	}
	return out
}
