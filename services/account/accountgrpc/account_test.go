package accountgrpc_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestSignUp: a customer creates their own account, whose id is their token subject; it
// is ACTIVE with unverified contacts (the email's domain in lower case) and the default
// preferences, and account.account.created carries it.
func TestSignUp(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	a := h.signUp(t, id)
	if a.GetId() != id || a.GetStatus() != accountv1.AccountStatus_ACCOUNT_STATUS_ACTIVE || a.GetVersion() != 1 {
		t.Fatalf("account %v, want %s ACTIVE version 1", a, id)
	}
	if a.GetEmail().GetAddress() != id+"@example.com" || a.GetEmail().GetState() != accountv1.VerificationState_VERIFICATION_STATE_UNVERIFIED {
		t.Fatalf("email %v, want %s@example.com UNVERIFIED", a.GetEmail(), id)
	}
	p := a.GetPreferences()
	if p.GetTransactional().GetOptedOut() || !p.GetMarketing().GetOptedOut() || len(p.GetRideUpdates().GetChannels()) != 2 {
		t.Fatalf("preferences %v, want the defaults (marketing opted out)", p)
	}
	evs := h.events(t, lastOf("account.account.created", id))
	created := find(evs, "account.account.created", id)[0].payload.(*accountv1.AccountCreatedEvent)
	if created.GetCreatedBy() != id || created.GetAccount().GetEmail().GetAddress() != id+"@example.com" {
		t.Fatalf("created event %v", created)
	}

	// Signing up twice: the id is taken.
	_, err := h.as(id).CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{}})
	grpctest.WantReason(t, err, codes.AlreadyExists, "ACCOUNT_EXISTS")
	// A customer cannot sign someone else up.
	_, err = h.as(id).CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{Id: "someone-else"}})
	grpctest.WantReason(t, err, codes.PermissionDenied, errs.ReasonFieldNotSettable)
	// Operators create any account; without an id they get a new UUID.
	resp, err := h.operator.CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{SubStatus: "kyc_pending",
		Preferences: &accountv1.Preferences{Marketing: &accountv1.CategoryPreference{Channels: []accountv1.Channel{accountv1.Channel_CHANNEL_SMS}}}}})
	if err != nil || len(resp.GetAccount().GetId()) != 36 || resp.GetAccount().GetSubStatus() != "kyc_pending" {
		t.Fatalf("operator CreateAccount = %v, %v", resp, err)
	}
	// The categories a sign-up leaves unset keep their defaults.
	if p := resp.GetAccount().GetPreferences(); p.GetMarketing().GetOptedOut() || len(p.GetMarketing().GetChannels()) != 1 ||
		len(p.GetTransactional().GetChannels()) != 2 || len(p.GetRideUpdates().GetChannels()) != 2 {
		t.Fatalf("preferences %v: want marketing by SMS and the defaults elsewhere", p)
	}
	// Drivers and anonymous callers have no access.
	_, err = h.driver.CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{}})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.anon.CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{}})
	grpctest.WantCode(t, err, codes.Unauthenticated)
}

// TestCreateIsIdempotent: a retry with the same request id returns the first account and
// emits nothing more; the same request id with other parameters is refused.
func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	req := &accountv1.CreateAccountRequest{Account: &accountv1.Account{Profile: &accountv1.Profile{DisplayName: "Bo"}}, RequestId: "signup-1"}
	first, err := h.as(id).CreateAccount(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.as(id).CreateAccount(grpctest.Context(t), req)
	if err != nil || again.GetAccount().GetCreateTime().AsTime() != first.GetAccount().GetCreateTime().AsTime() {
		t.Fatalf("retry = %v, %v; want the first account", again, err)
	}
	req.Account.Profile.DisplayName = "Other"
	_, err = h.as(id).CreateAccount(grpctest.Context(t), req)
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	if n := h.count(t, "account"); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
}

// TestUpdatePreferencesAndOptOut: the customer changes channels and opts out of ride
// updates; account.account.updated carries the new preferences, which the notification
// service copies, with changed_paths ["preferences"].
func TestUpdatePreferencesAndOptOut(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	a, err := h.update(t, &accountv1.Account{Id: id, Preferences: &accountv1.Preferences{
		RideUpdates: &accountv1.CategoryPreference{Channels: []accountv1.Channel{accountv1.Channel_CHANNEL_SMS}, OptedOut: true},
		Marketing:   &accountv1.CategoryPreference{Channels: []accountv1.Channel{accountv1.Channel_CHANNEL_SMS, accountv1.Channel_CHANNEL_EMAIL}},
	}}, "preferences.ride_updates", "preferences.marketing")
	if err != nil {
		t.Fatal(err)
	}
	p := a.GetPreferences()
	if !p.GetRideUpdates().GetOptedOut() || p.GetMarketing().GetOptedOut() || len(p.GetTransactional().GetChannels()) != 2 ||
		!slices.Equal(p.GetMarketing().GetChannels(), []accountv1.Channel{accountv1.Channel_CHANNEL_EMAIL, accountv1.Channel_CHANNEL_SMS}) {
		t.Fatalf("preferences %v", p)
	}
	evs := h.events(t, lastOf("account.account.updated", id))
	up := find(evs, "account.account.updated", id)[0].payload.(*accountv1.AccountUpdatedEvent)
	if !slices.Equal(up.GetChangedPaths(), []string{"preferences"}) || !up.GetAccount().GetPreferences().GetRideUpdates().GetOptedOut() {
		t.Fatalf("updated event %v", up)
	}
	// The same values again change nothing: no version, no event.
	again, err := h.update(t, &accountv1.Account{Id: id, Preferences: a.GetPreferences()}, "preferences")
	if err != nil || again.GetVersion() != a.GetVersion() {
		t.Fatalf("same preferences = v%d, %v; want v%d unchanged", again.GetVersion(), err, a.GetVersion())
	}
}

// TestUpdateContactResetsVerification: a new email address is UNVERIFIED again, and a
// stale version is refused.
func TestUpdateContactResetsVerification(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	h.verify(t, id, accountv1.ContactKind_CONTACT_KIND_EMAIL)
	a, err := h.update(t, &accountv1.Account{Id: id, Email: &accountv1.Contact{Address: "new@example.org"}, Profile: &accountv1.Profile{DisplayName: "Ada L."}},
		"email", "profile.display_name")
	if err != nil {
		t.Fatal(err)
	}
	if a.GetEmail().GetState() != accountv1.VerificationState_VERIFICATION_STATE_UNVERIFIED || a.GetProfile().GetDisplayName() != "Ada L." ||
		a.GetProfile().GetLocale() != "de-DE" {
		t.Fatalf("account %v, want the new email unverified, the display name changed and the locale kept", a)
	}
	_, err = h.update(t, &accountv1.Account{Id: id, Version: 1, SubStatus: "x"}, "profile.locale")
	grpctest.WantReason(t, err, codes.Aborted, "STALE_VERSION")
	// Customers do not set sub-statuses; operators do.
	_, err = h.update(t, &accountv1.Account{Id: id, SubStatus: "vip"}, "sub_status")
	grpctest.WantReason(t, err, codes.PermissionDenied, errs.ReasonFieldNotSettable)
	// Removing the phone.
	a, err = h.update(t, &accountv1.Account{Id: id}, "phone")
	if err != nil || a.GetPhone() != nil {
		t.Fatalf("remove phone = %v, %v", a.GetPhone(), err)
	}
}

// TestViewsAndMasking: GetAccount shows contacts unmasked, in the view asked for;
// ListAccounts masks them for operators, and a customer's list holds only their own
// account.
func TestViewsAndMasking(t *testing.T) {
	t.Parallel()
	h := start(t)
	ids := []string{newCustomer(), newCustomer(), newCustomer()}
	for _, id := range ids {
		h.signUp(t, id)
	}
	basic, err := h.operator.GetAccount(grpctest.Context(t), &accountv1.GetAccountRequest{AccountId: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if basic.GetAccount().GetPreferences() != nil || basic.GetAccount().GetEmail().GetAddress() != ids[0]+"@example.com" || basic.GetAccount().GetEmail().GetMasked() {
		t.Fatalf("basic view %v: want no preferences and the email unmasked", basic.GetAccount())
	}
	if full := h.get(t, ids[0]); full.GetPreferences() == nil {
		t.Fatalf("full view %v lacks preferences", full)
	}

	var listed []*accountv1.Account
	token := ""
	for {
		resp, err := h.operator.ListAccounts(grpctest.Context(t), &accountv1.ListAccountsRequest{PageSize: 2, PageToken: token, View: typev1.View_VIEW_FULL})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, resp.GetAccounts()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(listed) != 3 {
		t.Fatalf("listed %d accounts over pages of 2, want 3", len(listed))
	}
	for i, a := range listed {
		if a.GetId() != ids[i] {
			t.Fatalf("account %d is %s, want %s (oldest first)", i, a.GetId(), ids[i])
		}
		if e := a.GetEmail(); !e.GetMasked() || e.GetAddress() != ids[i][:1]+"***@example.com" {
			t.Fatalf("listed email %v, want masked", e)
		}
		if p := a.GetPhone(); !p.GetMasked() || p.GetAddress() != "+49*********78" {
			t.Fatalf("listed phone %v, want masked", p)
		}
	}
	own, err := h.as(ids[1]).ListAccounts(grpctest.Context(t), &accountv1.ListAccountsRequest{})
	if err != nil || len(own.GetAccounts()) != 1 || own.GetAccounts()[0].GetId() != ids[1] {
		t.Fatalf("customer's list = %v, %v; want only their own account", own, err)
	}
	// A page token of other filters is refused.
	resp, err := h.operator.ListAccounts(grpctest.Context(t), &accountv1.ListAccountsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.operator.ListAccounts(grpctest.Context(t), &accountv1.ListAccountsRequest{PageSize: 1, PageToken: resp.GetNextPageToken(),
		Status: accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED})
	grpctest.WantField(t, err, "page_token")
}

// TestPrivacy: a customer sees and changes only their own account; every other account,
// existing or not, looks missing, and nothing is written.
func TestPrivacy(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice, bob := newCustomer(), newCustomer()
	h.signUp(t, alice)
	h.signUp(t, bob)
	before := h.writes(t)
	ctx := grpctest.Context(t)
	for _, target := range []string{bob, "nobody-at-all"} {
		_, err := h.as(alice).GetAccount(ctx, &accountv1.GetAccountRequest{AccountId: target})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = h.as(alice).UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
			Account: &accountv1.Account{Id: target, Profile: &accountv1.Profile{DisplayName: "Mallory"}}, UpdateMask: mask("profile"),
		})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = h.as(alice).SendVerificationCode(ctx, &accountv1.SendVerificationCodeRequest{AccountId: target, Kind: accountv1.ContactKind_CONTACT_KIND_EMAIL})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = h.as(alice).VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: target, Kind: accountv1.ContactKind_CONTACT_KIND_EMAIL, Code: "123456"})
		grpctest.WantCode(t, err, codes.NotFound)
		_, err = h.as(alice).DeleteAccount(ctx, &accountv1.DeleteAccountRequest{AccountId: target})
		grpctest.WantCode(t, err, codes.NotFound)
	}
	// Suspension is for operators only.
	_, err := h.as(alice).SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: alice, Reason: "self"})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.service.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: alice})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.driver.GetAccount(ctx, &accountv1.GetAccountRequest{AccountId: alice})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if after := h.writes(t); after != before {
		t.Fatalf("refused calls wrote: %s → %s", before, after)
	}
	if got := h.get(t, bob); got.GetProfile().GetDisplayName() != "Ada Traveller" {
		t.Fatalf("bob's profile changed: %v", got.GetProfile())
	}
}

// TestDeleteErases: deleting an account erases its profile, contacts, preferences and
// codes (checked through the API and the table), emits account.account.deleted, leaves
// a DELETED tombstone that cannot be changed or re-created, and keeps a suspension.
func TestDeleteErases(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	if _, err := h.as(id).SendVerificationCode(grpctest.Context(t), &accountv1.SendVerificationCodeRequest{AccountId: id, Kind: accountv1.ContactKind_CONTACT_KIND_PHONE}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.operator.SuspendAccount(grpctest.Context(t), &accountv1.SuspendAccountRequest{AccountId: id, Reason: "chargebacks"}); err != nil {
		t.Fatal(err)
	}
	resp, err := h.as(id).DeleteAccount(grpctest.Context(t), &accountv1.DeleteAccountRequest{AccountId: id, RequestId: "del-1"})
	if err != nil {
		t.Fatal(err)
	}
	gone := h.get(t, id)
	if gone.GetStatus() != accountv1.AccountStatus_ACCOUNT_STATUS_DELETED || gone.GetProfile() != nil || gone.GetEmail() != nil ||
		gone.GetPhone() != nil || gone.GetPreferences() != nil || gone.GetDeleteTime() == nil || gone.GetSuspension().GetReason() != "chargebacks" {
		t.Fatalf("after deletion %v, want a DELETED tombstone with the suspension and nothing personal", gone)
	}
	if resp.GetAccount().GetVersion() != gone.GetVersion() {
		t.Fatalf("DeleteAccount returned v%d, stored v%d", resp.GetAccount().GetVersion(), gone.GetVersion())
	}
	var personal int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM account WHERE id = $1 AND (display_name <> '' OR email <> '' OR phone <> '' OR locale <> '' OR time_zone <> '')`, id).Scan(&personal); err != nil {
		t.Fatal(err)
	}
	if personal != 0 || h.count(t, "verification_code") != 0 {
		t.Fatalf("%d rows with personal data, %d codes left after deletion", personal, h.count(t, "verification_code"))
	}
	evs := h.events(t, lastOf("account.account.deleted", id))
	del := find(evs, "account.account.deleted", id)[0].payload.(*accountv1.AccountDeletedEvent)
	if del.GetDeletedBy() != id || del.GetAccount().GetEmail() != nil || del.GetAccount().GetStatus() != accountv1.AccountStatus_ACCOUNT_STATUS_DELETED {
		t.Fatalf("deleted event %v", del)
	}
	// Deleting again changes nothing; changes and re-creation are refused.
	again, err := h.as(id).DeleteAccount(grpctest.Context(t), &accountv1.DeleteAccountRequest{AccountId: id})
	if err != nil || again.GetAccount().GetVersion() != gone.GetVersion() {
		t.Fatalf("second delete = %v, %v", again, err)
	}
	_, err = h.update(t, &accountv1.Account{Id: id, Profile: &accountv1.Profile{DisplayName: "Back"}}, "profile")
	grpctest.WantReason(t, err, codes.FailedPrecondition, "ACCOUNT_DELETED")
	_, err = h.operator.ReinstateAccount(grpctest.Context(t), &accountv1.ReinstateAccountRequest{AccountId: id})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "ACCOUNT_DELETED")
	_, err = h.as(id).CreateAccount(grpctest.Context(t), &accountv1.CreateAccountRequest{Account: &accountv1.Account{}})
	grpctest.WantReason(t, err, codes.AlreadyExists, "ACCOUNT_EXISTS")
	// Services may not delete accounts.
	other := newCustomer()
	h.signUp(t, other)
	_, err = h.service.DeleteAccount(grpctest.Context(t), &accountv1.DeleteAccountRequest{AccountId: other})
	grpctest.WantCode(t, err, codes.PermissionDenied)
}

// TestSuspendAndReinstate: operators suspend with a reason and reinstate; each emits its
// event; repeating either changes nothing.
func TestSuspendAndReinstate(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	ctx := grpctest.Context(t)
	s, err := h.operator.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: id, Reason: "fraud review"})
	if err != nil {
		t.Fatal(err)
	}
	sus := s.GetAccount()
	if sus.GetStatus() != accountv1.AccountStatus_ACCOUNT_STATUS_SUSPENDED || sus.GetSuspension().GetReason() != "fraud review" ||
		sus.GetSuspension().GetSuspendedBy() != "ops-anna" {
		t.Fatalf("suspended %v", sus)
	}
	twice, err := h.operator.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: id, Reason: "again"})
	if err != nil || twice.GetAccount().GetVersion() != sus.GetVersion() || twice.GetAccount().GetSuspension().GetReason() != "fraud review" {
		t.Fatalf("second suspension = %v, %v; want unchanged", twice, err)
	}
	r, err := h.operator.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: id, Reason: "cleared"})
	if err != nil || r.GetAccount().GetStatus() != accountv1.AccountStatus_ACCOUNT_STATUS_ACTIVE || r.GetAccount().GetSuspension().GetReinstateTime() == nil {
		t.Fatalf("reinstated = %v, %v", r, err)
	}
	evs := h.events(t, lastOf("account.account.reinstated", id))
	if len(find(evs, "account.account.suspended", id)) != 1 || len(find(evs, "account.account.reinstated", id)) != 1 {
		t.Fatalf("events %v: want one suspension and one reinstatement", evs)
	}
	// The customer sees their own suspension in VIEW_STANDARD.
	own, err := h.as(id).GetAccount(ctx, &accountv1.GetAccountRequest{AccountId: id, View: typev1.View_VIEW_STANDARD})
	if err != nil || own.GetAccount().GetSuspension().GetReason() != "fraud review" {
		t.Fatalf("own account = %v, %v", own, err)
	}
}

// TestConcurrentUpdatesAreSerialized: concurrent updates of one account each get their
// own version, and its account.account.updated events arrive in version order (the
// account's row is locked before the events are queued).
func TestConcurrentUpdatesAreSerialized(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := h.operator.UpdateAccount(grpctest.Context(t), &accountv1.UpdateAccountRequest{
				Account:    &accountv1.Account{Id: id, SubStatus: fmt.Sprintf("step_%02d", i)},
				UpdateMask: mask("sub_status"),
			})
			if err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if v := h.get(t, id).GetVersion(); v != n+1 {
		t.Fatalf("version %d after %d updates, want %d", v, n, n+1)
	}
	evs := h.events(t, func(evs []event) bool { return len(find(evs, "account.account.updated", id)) == n })
	for i, e := range find(evs, "account.account.updated", id) {
		if v := e.payload.(*accountv1.AccountUpdatedEvent).GetAccount().GetVersion(); v != int64(i+2) {
			t.Fatalf("update event %d carries version %d, want %d", i, v, i+2)
		}
	}
}
