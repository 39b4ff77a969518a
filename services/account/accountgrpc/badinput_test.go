package accountgrpc_test

import (
	"context"
	"strings"
	"testing"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestBadInputNamesTheFieldAndWritesNothing: every RPC answers malformed input with
// INVALID_ARGUMENT naming the field, and writes nothing (no account, version, code,
// attempt, event or idempotency key).
func TestBadInputNamesTheFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	if _, err := h.send(t, id, email); err != nil {
		t.Fatal(err)
	}
	h.issuedCode(t, id, 1) // the code's event is in the log before the counts are taken
	cust := h.as(id)
	ops := h.operator
	long := strings.Repeat("x", 201)
	create := func(a *accountv1.Account) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := ops.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: a})
			return err
		}
	}
	updateAs := func(c accountv1.AccountServiceClient, a *accountv1.Account, paths ...string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{Account: a, UpdateMask: mask(paths...)})
			return err
		}
	}
	update := func(a *accountv1.Account, paths ...string) func(context.Context) error {
		return updateAs(cust, a, paths...)
	}
	cases := []struct {
		name, field string
		call        func(context.Context) error
	}{
		{"create without account", "account", func(ctx context.Context) error {
			_, err := ops.CreateAccount(ctx, &accountv1.CreateAccountRequest{})
			return err
		}},
		{"create bad id", "account.id", create(&accountv1.Account{Id: "has space"})},
		{"create id too long", "account.id", create(&accountv1.Account{Id: strings.Repeat("a", 129)})},
		{"create long name", "account.profile.display_name", create(&accountv1.Account{Profile: &accountv1.Profile{DisplayName: long}})},
		{"create name with spaces", "account.profile.display_name", create(&accountv1.Account{Profile: &accountv1.Profile{DisplayName: " Ada"}})},
		{"create bad locale", "account.profile.locale", create(&accountv1.Account{Profile: &accountv1.Profile{Locale: "english"}})},
		{"create bad time zone", "account.profile.time_zone", create(&accountv1.Account{Profile: &accountv1.Profile{TimeZone: "Mars/Olympus"}})},
		{"create bad email", "account.email.address", create(&accountv1.Account{Email: &accountv1.Contact{Address: "not-an-email"}})},
		{"create email with name", "account.email.address", create(&accountv1.Account{Email: &accountv1.Contact{Address: "Ada <ada@example.com>"}})},
		{"create email without dot", "account.email.address", create(&accountv1.Account{Email: &accountv1.Contact{Address: "ada@localhost"}})},
		{"create bad phone", "account.phone.address", create(&accountv1.Account{Phone: &accountv1.Contact{Address: "0151 1234567"}})},
		{"create short phone", "account.phone.address", create(&accountv1.Account{Phone: &accountv1.Contact{Address: "+49123"}})},
		{"create bad channel", "account.preferences.marketing.channels[0]", create(&accountv1.Account{Preferences: &accountv1.Preferences{
			Marketing: &accountv1.CategoryPreference{Channels: []accountv1.Channel{9}}}})},
		{"create repeated channel", "account.preferences.transactional.channels[1]", create(&accountv1.Account{Preferences: &accountv1.Preferences{
			Transactional: &accountv1.CategoryPreference{Channels: []accountv1.Channel{1, 1}}}})},
		{"create bad sub-status", "account.sub_status", create(&accountv1.Account{SubStatus: "Not Snake"})},
		{"create long request id", "request_id", func(ctx context.Context) error {
			_, err := ops.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{}, RequestId: strings.Repeat("r", 65)})
			return err
		}},
		{"get without id", "account_id", func(ctx context.Context) error {
			_, err := ops.GetAccount(ctx, &accountv1.GetAccountRequest{})
			return err
		}},
		{"get bad id", "account_id", func(ctx context.Context) error {
			_, err := ops.GetAccount(ctx, &accountv1.GetAccountRequest{AccountId: "a/b"})
			return err
		}},
		{"get bad view", "view", func(ctx context.Context) error {
			_, err := ops.GetAccount(ctx, &accountv1.GetAccountRequest{AccountId: id, View: typev1.View(42)})
			return err
		}},
		{"list big page", "page_size", func(ctx context.Context) error {
			_, err := ops.ListAccounts(ctx, &accountv1.ListAccountsRequest{PageSize: 501})
			return err
		}},
		{"list negative page", "page_size", func(ctx context.Context) error {
			_, err := ops.ListAccounts(ctx, &accountv1.ListAccountsRequest{PageSize: -1})
			return err
		}},
		{"list bad status", "status", func(ctx context.Context) error {
			_, err := ops.ListAccounts(ctx, &accountv1.ListAccountsRequest{Status: 9})
			return err
		}},
		{"list bad token", "page_token", func(ctx context.Context) error {
			_, err := ops.ListAccounts(ctx, &accountv1.ListAccountsRequest{PageToken: "garbage"})
			return err
		}},
		{"update without account", "account", func(ctx context.Context) error {
			_, err := cust.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{UpdateMask: mask("profile")})
			return err
		}},
		{"update without mask", "update_mask", func(ctx context.Context) error {
			_, err := cust.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{Account: &accountv1.Account{Id: id}})
			return err
		}},
		{"update empty mask", "update_mask", update(&accountv1.Account{Id: id})},
		{"update unknown path", "update_mask", update(&accountv1.Account{Id: id}, "status")},
		{"update without id", "account.id", update(&accountv1.Account{}, "profile")},
		{"update bad email", "account.email.address", update(&accountv1.Account{Id: id, Email: &accountv1.Contact{Address: "x@"}}, "email")},
		{"update bad phone", "account.phone.address", update(&accountv1.Account{Id: id, Phone: &accountv1.Contact{Address: "+0123456789"}}, "phone")},
		{"update bad locale", "account.profile.locale", update(&accountv1.Account{Id: id, Profile: &accountv1.Profile{Locale: "DE"}}, "profile.locale")},
		{"update bad zone", "account.profile.time_zone", update(&accountv1.Account{Id: id, Profile: &accountv1.Profile{TimeZone: "Local"}}, "profile")},
		{"update bad channel", "account.preferences.ride_updates.channels[0]", update(&accountv1.Account{Id: id, Preferences: &accountv1.Preferences{
			RideUpdates: &accountv1.CategoryPreference{Channels: []accountv1.Channel{0}}}}, "preferences.ride_updates")},
		{"update negative version", "account.version", update(&accountv1.Account{Id: id, Version: -1}, "profile")},
		{"update bad sub-status", "account.sub_status", updateAs(ops, &accountv1.Account{Id: id, SubStatus: "UPPER"}, "sub_status")},
		{"suspend without id", "account_id", func(ctx context.Context) error {
			_, err := ops.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{Reason: "r"})
			return err
		}},
		{"suspend without reason", "reason", func(ctx context.Context) error {
			_, err := ops.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: id})
			return err
		}},
		{"suspend long reason", "reason", func(ctx context.Context) error {
			_, err := ops.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: id, Reason: strings.Repeat("r", 501)})
			return err
		}},
		{"reinstate bad id", "account_id", func(ctx context.Context) error {
			_, err := ops.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: "#"})
			return err
		}},
		{"reinstate control reason", "reason", func(ctx context.Context) error {
			_, err := ops.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: id, Reason: "a\x00b"})
			return err
		}},
		{"send without id", "account_id", func(ctx context.Context) error {
			_, err := cust.SendVerificationCode(ctx, &accountv1.SendVerificationCodeRequest{Kind: email})
			return err
		}},
		{"send without kind", "kind", func(ctx context.Context) error {
			_, err := cust.SendVerificationCode(ctx, &accountv1.SendVerificationCodeRequest{AccountId: id})
			return err
		}},
		{"verify without kind", "kind", func(ctx context.Context) error {
			_, err := cust.VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: id, Code: "123456"})
			return err
		}},
		{"verify short code", "code", func(ctx context.Context) error {
			_, err := cust.VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: id, Kind: email, Code: "12345"})
			return err
		}},
		{"verify letters", "code", func(ctx context.Context) error {
			_, err := cust.VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: id, Kind: email, Code: "12345a"})
			return err
		}},
		{"verify bad request id", "request_id", func(ctx context.Context) error {
			_, err := cust.VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: id, Kind: email, Code: "123456", RequestId: "bad\x01"})
			return err
		}},
		{"delete without id", "account_id", func(ctx context.Context) error {
			_, err := cust.DeleteAccount(ctx, &accountv1.DeleteAccountRequest{})
			return err
		}},
		{"delete long request id", "request_id", func(ctx context.Context) error {
			_, err := cust.DeleteAccount(ctx, &accountv1.DeleteAccountRequest{AccountId: id, RequestId: strings.Repeat("r", 65)})
			return err
		}},
	}
	before := h.writes(t)
	rpcs := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			grpctest.WantField(t, c.call(grpctest.Context(t)), c.field)
		})
		rpcs[strings.Fields(c.name)[0]] = true
	}
	if after := h.writes(t); after != before {
		t.Fatalf("bad input wrote: %s → %s", before, after)
	}
	// Every RPC is covered.
	for _, rpc := range []string{"create", "get", "list", "update", "suspend", "reinstate", "send", "verify", "delete"} {
		if !rpcs[rpc] {
			t.Errorf("no bad-input case for %s", rpc)
		}
	}
}
