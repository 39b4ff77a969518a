package accountgrpc

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/account/account"
)

// This file is the only place where generated types meet the account domain's.

// timestamp converts a time, unset for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// view is what a read shows.
type view int

const (
	viewBasic view = iota
	viewStandard
	viewFull
)

// viewIn converts a view; VIEW_UNSPECIFIED means BASIC.
func viewIn(v typev1.View) (view, error) {
	switch v {
	case typev1.View_VIEW_UNSPECIFIED, typev1.View_VIEW_BASIC:
		return viewBasic, nil
	case typev1.View_VIEW_STANDARD:
		return viewStandard, nil
	case typev1.View_VIEW_FULL:
		return viewFull, nil
	}
	return 0, errs.Invalid("view", "is not a known view")
}

func contactOut(c account.Contact) *accountv1.Contact {
	if !c.Set() {
		return nil
	}
	out := &accountv1.Contact{Address: c.Address, State: accountv1.VerificationState_VERIFICATION_STATE_UNVERIFIED, Masked: c.Masked}
	if !c.VerifyTime.IsZero() {
		out.State, out.VerifyTime = accountv1.VerificationState_VERIFICATION_STATE_VERIFIED, timestamp(c.VerifyTime)
	}
	return out
}

func categoryOut(p account.CategoryPreference) *accountv1.CategoryPreference {
	out := &accountv1.CategoryPreference{OptedOut: p.OptedOut}
	for _, c := range p.Channels {
		out.Channels = append(out.Channels, accountv1.Channel(c))
	}
	return out
}

func categoryIn(p *accountv1.CategoryPreference) account.CategoryPreference {
	out := account.CategoryPreference{OptedOut: p.GetOptedOut(), Channels: []account.Channel{}}
	for _, c := range p.GetChannels() {
		out.Channels = append(out.Channels, account.Channel(c))
	}
	return out
}

func preferencesIn(p *accountv1.Preferences) account.Preferences {
	return account.Preferences{
		Transactional: categoryIn(p.GetTransactional()),
		RideUpdates:   categoryIn(p.GetRideUpdates()),
		Marketing:     categoryIn(p.GetMarketing()),
	}
}

// preferencesOver returns def with the categories p sets replaced: a sign-up that sets
// only some categories keeps the defaults of the others.
func preferencesOver(def account.Preferences, p *accountv1.Preferences) account.Preferences {
	if p.GetTransactional() != nil {
		def.Transactional = categoryIn(p.GetTransactional())
	}
	if p.GetRideUpdates() != nil {
		def.RideUpdates = categoryIn(p.GetRideUpdates())
	}
	if p.GetMarketing() != nil {
		def.Marketing = categoryIn(p.GetMarketing())
	}
	return def
}

// accountOut converts an account as view v shows it.
func accountOut(a account.Account, v view) *accountv1.Account {
	out := &accountv1.Account{
		Id:         a.ID,
		Email:      contactOut(a.Email),
		Phone:      contactOut(a.Phone),
		Status:     accountv1.AccountStatus(a.Status),
		SubStatus:  a.SubStatus,
		CreateTime: timestamp(a.CreateTime),
		UpdateTime: timestamp(a.UpdateTime),
		DeleteTime: timestamp(a.DeleteTime),
		Version:    a.Version,
	}
	if a.Profile != (account.Profile{}) {
		out.Profile = &accountv1.Profile{DisplayName: a.Profile.DisplayName, Locale: a.Profile.Locale, TimeZone: a.Profile.TimeZone}
	}
	if v >= viewStandard && a.Suspension != nil {
		s := a.Suspension
		out.Suspension = &accountv1.Suspension{
			Reason: s.Reason, SuspendTime: timestamp(s.SuspendTime), SuspendedBy: s.SuspendedBy,
			ReinstateTime: timestamp(s.ReinstateTime), ReinstateReason: s.ReinstateReason,
		}
	}
	if v >= viewFull && a.Status != account.StatusDeleted {
		out.Preferences = &accountv1.Preferences{
			Transactional: categoryOut(a.Preferences.Transactional),
			RideUpdates:   categoryOut(a.Preferences.RideUpdates),
			Marketing:     categoryOut(a.Preferences.Marketing),
		}
	}
	return out
}

// accountIn converts the fields of an account a caller may set (and the id and version
// an update names); output-only fields are ignored.
func accountIn(a *accountv1.Account) account.Account {
	p := a.GetProfile()
	return account.Account{
		ID:          a.GetId(),
		Profile:     account.Profile{DisplayName: p.GetDisplayName(), Locale: p.GetLocale(), TimeZone: p.GetTimeZone()},
		Email:       account.Contact{Address: a.GetEmail().GetAddress()},
		Phone:       account.Contact{Address: a.GetPhone().GetAddress()},
		Preferences: preferencesIn(a.GetPreferences()),
		SubStatus:   a.GetSubStatus(),
		Version:     a.GetVersion(),
	}
}

// statusIn converts a status filter; ok is false for a value the contract does not
// define.
func statusIn(s accountv1.AccountStatus) (account.Status, bool) {
	st := account.Status(s)
	return st, st == account.StatusUnspecified || st.Valid()
}

// EventPayload builds the payload message of an account event; the store emits it with
// the change (accountpg.Options.Encode). Accounts in events are in VIEW_FULL, unmasked.
func EventPayload(ev account.Event) (proto.Message, error) {
	a := accountOut(ev.Account, viewFull)
	switch ev.Type {
	case account.EventCreated:
		return &accountv1.AccountCreatedEvent{Account: a, CreatedBy: ev.By}, nil
	case account.EventUpdated:
		return &accountv1.AccountUpdatedEvent{Account: a, ChangedPaths: ev.ChangedPaths}, nil
	case account.EventSuspended:
		return &accountv1.AccountSuspendedEvent{Account: a}, nil
	case account.EventReinstated:
		return &accountv1.AccountReinstatedEvent{Account: a}, nil
	case account.EventDeleted:
		return &accountv1.AccountDeletedEvent{Account: a, DeletedBy: ev.By}, nil
	case account.EventContactVerified:
		return &accountv1.ContactVerifiedEvent{Account: a, Kind: accountv1.ContactKind(ev.Kind), Address: ev.Account.Contact(ev.Kind).Address}, nil
	case account.EventCodeIssued:
		if ev.Issued == nil {
			return nil, fmt.Errorf("account: event %s without its code", ev.Type)
		}
		locale := ev.Account.Profile.Locale
		if locale == "" {
			locale = "en"
		}
		return &accountv1.VerificationCodeIssuedEvent{
			AccountId: ev.Account.ID, Kind: accountv1.ContactKind(ev.Kind), Destination: ev.Issued.Destination,
			Code: ev.Issued.Code, CodeId: ev.Issued.CodeID, IssueTime: timestamp(ev.Issued.IssueTime),
			ExpireTime: timestamp(ev.Issued.ExpireTime), Locale: locale, DisplayName: ev.Account.Profile.DisplayName,
		}, nil
	}
	return nil, fmt.Errorf("account: no payload for event type %q", ev.Type)
}
