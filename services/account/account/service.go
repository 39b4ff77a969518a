package account

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// Page sizes of ListAccounts (kit/page).
const (
	// DefaultPageSize is used when a list call asks for 0.
	DefaultPageSize = 50
	// MaxPageSize is the largest page_size the contract allows.
	MaxPageSize = 500
)

// Defaults of Options' code settings.
const (
	// DefaultCodeTTL is how long a code is valid.
	DefaultCodeTTL = 10 * time.Minute
	// DefaultMaxAttempts is how many attempts a code allows, wrong or right.
	DefaultMaxAttempts = 5
	// DefaultResendInterval is the shortest time between two codes for one contact.
	DefaultResendInterval = 30 * time.Second
	// DefaultMaxCodesPerHour is how many codes one contact gets in an hour.
	DefaultMaxCodesPerHour = 5
)

// Options configures a Service.
type Options struct {
	// CodeSecret keys the HMAC under which codes are stored. Required.
	CodeSecret []byte
	// CodeTTL, MaxAttempts, ResendInterval and MaxCodesPerHour tune verification codes;
	// zero means the Default… constant.
	CodeTTL         time.Duration
	MaxAttempts     int
	ResendInterval  time.Duration
	MaxCodesPerHour int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewCode returns a new plain code; nil means 6 random digits from crypto/rand.
	// Tests of brute force set it.
	NewCode func() string
}

// Service is the account service's use cases over a Store.
type Service struct {
	store Store
	opts  Options
}

// New returns a service on store with opts.
func New(store Store, opts Options) (*Service, error) {
	if len(opts.CodeSecret) == 0 {
		return nil, fmt.Errorf("account: Options.CodeSecret is required")
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = DefaultCodeTTL
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.ResendInterval <= 0 {
		opts.ResendInterval = DefaultResendInterval
	}
	if opts.MaxCodesPerHour <= 0 {
		opts.MaxCodesPerHour = DefaultMaxCodesPerHour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewCode == nil {
		opts.NewCode = newCode
	}
	return &Service{store: store, opts: opts}, nil
}

// clock returns the current time, truncated to microseconds as PostgreSQL stores it, so
// a value written and read back compares equal.
func (s *Service) clock() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// idempotencyKey returns the idempotency key of method called by c with requestID and
// params (JSON-encoded into the key's hash: the same request id with other parameters
// is refused).
func idempotencyKey(method string, c caller.Caller, requestID string, params any) idempotency.Key {
	b, err := json.Marshal(params)
	if err != nil {
		panic(fmt.Sprintf("account: the parameters of %s cannot be encoded: %v", method, err)) // plain structs always encode
	}
	return idempotency.Key{Method: method, Subject: c.Subject, RequestID: requestID, Hash: idempotency.Fingerprint(string(b))}
}

// normalizePreferences sorts each category's channels.
func normalizePreferences(p Preferences) Preferences {
	p = p.clone()
	for _, cp := range []*CategoryPreference{&p.Transactional, &p.RideUpdates, &p.Marketing} {
		slices.Sort(cp.Channels)
		if cp.Channels == nil {
			cp.Channels = []Channel{}
		}
	}
	return p
}

// CreateAccount signs a customer up (c's own account), or creates any account for an
// operator or a service (a new UUID when a.ID is empty). prefs nil means
// DefaultPreferences. It is idempotent by requestID.
func (s *Service) CreateAccount(ctx context.Context, c caller.Caller, a Account, prefs *Preferences, requestID string) (Account, error) {
	switch {
	case c.Role == caller.Customer:
		if a.ID == "" {
			a.ID = c.Subject
		} else if a.ID != c.Subject {
			return Account{}, errs.NotSettable("account.id", "a customer may create only their own account")
		}
		if a.SubStatus != "" {
			return Account{}, errs.NotSettable("account.sub_status", "only operators and services set sub-statuses")
		}
	case c.Privileged():
		if a.ID == "" {
			a.ID = ids.New()
		}
	case c.Role == caller.Anonymous:
		return Account{}, errs.NoIdentity("a token is required")
	default:
		return Account{}, errs.Denied("", "only customers, operators and services may create accounts")
	}
	// Output-only fields are ignored, and are no parameters of the call.
	a = Account{ID: a.ID, Profile: a.Profile, Email: Contact{Address: a.Email.Address}, Phone: Contact{Address: a.Phone.Address}, SubStatus: a.SubStatus}
	if err := CheckID("account.id", a.ID); err != nil {
		return Account{}, err
	}
	if err := checkProfile("account.profile", a.Profile); err != nil {
		return Account{}, err
	}
	var err error
	if a.Email.Address, err = normalizeContact("account.email", KindEmail, a.Email.Address); err != nil {
		return Account{}, err
	}
	if a.Phone.Address, err = normalizeContact("account.phone", KindPhone, a.Phone.Address); err != nil {
		return Account{}, err
	}
	a.Preferences = DefaultPreferences()
	if prefs != nil {
		if err := checkPreferences("account.preferences", *prefs); err != nil {
			return Account{}, err
		}
		a.Preferences = *prefs
	}
	a.Preferences = normalizePreferences(a.Preferences)
	if err := checkSubStatus("account.sub_status", a.SubStatus); err != nil {
		return Account{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Account{}, err
	}
	key := idempotencyKey("CreateAccount", c, requestID, a)
	now := s.clock()
	a.Status, a.Version, a.CreateTime, a.UpdateTime = StatusActive, 1, now, now
	out, err := s.store.CreateAccount(ctx, a, key, []Event{{Type: EventCreated, Account: a, By: c.Subject}})
	if err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	return out.Account, nil
}

// GetAccount returns one account, contacts unmasked, to the customer themselves,
// operators and services.
func (s *Service) GetAccount(ctx context.Context, c caller.Caller, id string) (Account, error) {
	if err := CheckID("account_id", id); err != nil {
		return Account{}, err
	}
	if err := mayRead(c, id); err != nil {
		return Account{}, err
	}
	a, err := s.store.Account(ctx, id)
	if err != nil {
		return Account{}, fmt.Errorf("get account: %w", err)
	}
	return a, nil
}

// ListAccounts returns a page of accounts selected by f, oldest first, contacts masked;
// a customer's list holds only their own account.
func (s *Service) ListAccounts(ctx context.Context, c caller.Caller, f Filter, pageToken string, pageSize int32) (Page, error) {
	switch {
	case c.Privileged():
	case c.Role == caller.Customer:
		f.ID = c.Subject
	default:
		if err := mayRead(c, ""); err != nil {
			return Page{}, err
		}
	}
	if pageSize > MaxPageSize {
		return Page{}, errs.Invalid("page_size", "must be 0 to %d, got %d", MaxPageSize, pageSize)
	}
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return Page{}, err
	}
	if f.Status != StatusUnspecified && !f.Status.Valid() {
		return Page{}, errs.Invalid("status", "is not a known account status")
	}
	filter := page.Fingerprint("ListAccounts", int(f.Status), f.ID)
	var cur Cursor
	ok, err := page.Decode(pageToken, filter, &cur)
	if err != nil {
		return Page{}, err
	}
	var after *Cursor
	if ok {
		if CheckID("page_token", cur.ID) != nil || cur.CreateTime.IsZero() {
			return Page{}, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
		}
		after = &cur
	}
	as, err := s.store.ListAccounts(ctx, f, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list accounts: %w", err)
	}
	var p Page
	if len(as) > limit {
		as = as[:limit]
		last := as[limit-1]
		p.NextPageToken = page.Encode(Cursor{CreateTime: last.CreateTime, ID: last.ID}, filter)
	}
	for i := range as {
		as[i] = as[i].Masked()
	}
	p.Accounts = as
	return p, nil
}

// The paths UpdateAccount accepts: those of the contract, and the leaf paths REST clients'
// PATCH bodies give (grpc-gateway derives the mask from the body's fields).
var updatePaths = []string{
	"profile", "profile.display_name", "profile.locale", "profile.time_zone", "email", "email.address", "phone", "phone.address",
	"preferences", "preferences.transactional", "preferences.ride_updates", "preferences.marketing",
	"preferences.transactional.channels", "preferences.transactional.opted_out",
	"preferences.ride_updates.channels", "preferences.ride_updates.opted_out",
	"preferences.marketing.channels", "preferences.marketing.opted_out", "sub_status",
}

// canonicalPath returns the contract's path for a leaf path of a contact (a contact's
// address is the whole contact a caller sets).
func canonicalPath(path string) string {
	switch path {
	case "email.address":
		return "email"
	case "phone.address":
		return "phone"
	}
	return path
}

// category returns the preference of category name in p.
func category(p *Preferences, name string) *CategoryPreference {
	switch name {
	case "transactional":
		return &p.Transactional
	case "ride_updates":
		return &p.RideUpdates
	}
	return &p.Marketing
}

// topPath returns the top-level field of path.
func topPath(path string) string {
	for i := range path {
		if path[i] == '.' {
			return path[:i]
		}
	}
	return path
}

// UpdateAccount changes the fields of account patch.ID that paths name, taken from
// patch. A changed contact address starts unverified and voids its pending code. A
// non-zero patch.Version must be the current version. It is idempotent by requestID.
func (s *Service) UpdateAccount(ctx context.Context, c caller.Caller, patch Account, paths []string, requestID string) (Account, error) {
	if err := CheckID("account.id", patch.ID); err != nil {
		return Account{}, err
	}
	if err := mayRead(c, patch.ID); err != nil {
		return Account{}, err
	}
	if len(paths) == 0 {
		return Account{}, errs.Invalid("update_mask", "must name at least one field")
	}
	for _, p := range paths {
		if !slices.Contains(updatePaths, p) {
			return Account{}, errs.Invalid("update_mask", "cannot change %q; allowed: %v", p, updatePaths)
		}
	}
	canonical := make([]string, len(paths))
	for i, p := range paths {
		canonical[i] = canonicalPath(p)
	}
	paths = slices.Compact(slices.Sorted(slices.Values(canonical)))
	if !c.Privileged() && slices.Contains(paths, "sub_status") {
		return Account{}, errs.NotSettable("account.sub_status", "only operators and services set sub-statuses")
	}
	if patch.Version < 0 {
		return Account{}, errs.Invalid("account.version", "must be 0 or the current version, got %d", patch.Version)
	}
	// The call's parameters: the id, the version and the named fields' new values.
	named := Account{ID: patch.ID, Version: patch.Version, Preferences: Preferences{}}
	for _, p := range paths {
		if err := checkPatch(p, &patch); err != nil {
			return Account{}, err
		}
		applyPath(&named, p, patch)
	}
	if err := checkRequestID(requestID); err != nil {
		return Account{}, err
	}
	key := idempotencyKey("UpdateAccount", c, requestID, struct {
		Patch Account
		Paths []string
	}{named, paths})
	out, err := s.store.UpdateAccount(ctx, patch.ID, key, func(cur Account, codes Codes) (Change, error) {
		if cur.Status == StatusDeleted {
			return Change{}, deleted(cur.ID)
		}
		if patch.Version != 0 && patch.Version != cur.Version {
			return Change{}, stale(patch.Version, cur.Version)
		}
		next := cur.clone()
		for _, p := range paths {
			applyPath(&next, p, patch)
		}
		var ch Change
		changed := changedPaths(cur, next)
		if len(changed) == 0 {
			return Change{Account: cur}, nil
		}
		for _, k := range []ContactKind{KindEmail, KindPhone} {
			if next.Contact(k).Address != cur.Contact(k).Address {
				next.Contact(k).VerifyTime = time.Time{}
				if code, ok := codes[k]; ok && len(code.Hash) > 0 {
					ch.Codes = append(ch.Codes, void(code))
				}
			}
		}
		next.Version, next.UpdateTime = cur.Version+1, s.clock()
		ch.Account, ch.Write = next, true
		ch.Events = []Event{{Type: EventUpdated, Account: next, ChangedPaths: changed}}
		return ch, nil
	})
	if err != nil {
		return Account{}, fmt.Errorf("update account: %w", err)
	}
	return out.Account, nil
}

// checkPatch checks the new value of path in patch, normalizing contact addresses and
// channel orders in place.
func checkPatch(path string, patch *Account) error {
	var err error
	switch path {
	case "profile":
		return checkProfile("account.profile", patch.Profile)
	case "profile.display_name":
		return checkText("account.profile.display_name", patch.Profile.DisplayName, MaxDisplayNameLength, false)
	case "profile.locale":
		return checkLocale("account.profile.locale", patch.Profile.Locale)
	case "profile.time_zone":
		return checkTimeZone("account.profile.time_zone", patch.Profile.TimeZone)
	case "email":
		patch.Email.Address, err = normalizeContact("account.email", KindEmail, patch.Email.Address)
	case "phone":
		patch.Phone.Address, err = normalizeContact("account.phone", KindPhone, patch.Phone.Address)
	case "preferences":
		err = checkPreferences("account.preferences", patch.Preferences)
	case "preferences.transactional":
		err = checkCategory("account.preferences.transactional", patch.Preferences.Transactional)
	case "preferences.ride_updates":
		err = checkCategory("account.preferences.ride_updates", patch.Preferences.RideUpdates)
	case "preferences.marketing":
		err = checkCategory("account.preferences.marketing", patch.Preferences.Marketing)
	case "preferences.transactional.channels", "preferences.ride_updates.channels", "preferences.marketing.channels":
		name := strings.TrimSuffix(strings.TrimPrefix(path, "preferences."), ".channels")
		err = checkCategory("account.preferences."+name, *category(&patch.Preferences, name))
	case "sub_status":
		err = checkSubStatus("account.sub_status", patch.SubStatus)
	}
	if err == nil && topPath(path) == "preferences" {
		patch.Preferences = normalizePreferences(patch.Preferences)
	}
	return err
}

// applyPath copies the field path names from patch into a; a contact whose address
// stays the same keeps its verification.
func applyPath(a *Account, path string, patch Account) {
	switch path {
	case "profile":
		a.Profile = patch.Profile
	case "profile.display_name":
		a.Profile.DisplayName = patch.Profile.DisplayName
	case "profile.locale":
		a.Profile.Locale = patch.Profile.Locale
	case "profile.time_zone":
		a.Profile.TimeZone = patch.Profile.TimeZone
	case "email":
		if a.Email.Address != patch.Email.Address {
			a.Email = Contact{Address: patch.Email.Address}
		}
	case "phone":
		if a.Phone.Address != patch.Phone.Address {
			a.Phone = Contact{Address: patch.Phone.Address}
		}
	case "preferences":
		a.Preferences = patch.Preferences.clone()
	case "preferences.transactional":
		a.Preferences.Transactional = patch.Preferences.clone().Transactional
	case "preferences.ride_updates":
		a.Preferences.RideUpdates = patch.Preferences.clone().RideUpdates
	case "preferences.marketing":
		a.Preferences.Marketing = patch.Preferences.clone().Marketing
	case "preferences.transactional.channels", "preferences.ride_updates.channels", "preferences.marketing.channels":
		name := strings.TrimSuffix(strings.TrimPrefix(path, "preferences."), ".channels")
		category(&a.Preferences, name).Channels = slices.Clone(category(&patch.Preferences, name).Channels)
	case "preferences.transactional.opted_out", "preferences.ride_updates.opted_out", "preferences.marketing.opted_out":
		name := strings.TrimSuffix(strings.TrimPrefix(path, "preferences."), ".opted_out")
		category(&a.Preferences, name).OptedOut = category(&patch.Preferences, name).OptedOut
	case "sub_status":
		a.SubStatus = patch.SubStatus
	}
}

// changedPaths returns the top-level fields that differ between a and b, sorted.
func changedPaths(a, b Account) []string {
	var out []string
	if a.Email != b.Email {
		out = append(out, "email")
	}
	if a.Phone != b.Phone {
		out = append(out, "phone")
	}
	if !a.Preferences.equal(b.Preferences) {
		out = append(out, "preferences")
	}
	if a.Profile != b.Profile {
		out = append(out, "profile")
	}
	if a.SubStatus != b.SubStatus {
		out = append(out, "sub_status")
	}
	return out
}
