package billing

import (
	"context"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

// requestKey returns the idempotency key of a call of method by c with request id id and
// the call's parameters (in a fixed order, digested for the reuse check), after checking
// id by kit/idempotency's rule (INVALID_ARGUMENT on request_id). A retry by the same
// caller with the same method and id returns the first call's result; reusing the id with
// other parameters fails with INVALID_ARGUMENT on request_id. An empty id opts out: its
// key claims nothing.
func requestKey(method string, c caller.Caller, id string, params ...string) (idempotency.Key, error) {
	if id == "" {
		return idempotency.Key{}, nil
	}
	if err := idempotency.CheckRequestID(id, false); err != nil {
		return idempotency.Key{}, err
	}
	return idempotency.Key{Method: method, Subject: c.Subject, RequestID: id, Hash: idempotency.Fingerprint(params...)}, nil
}

// Recorded is the remembered result of an idempotent call.
type Recorded struct {
	// BillID is the bill the call acted on.
	BillID string `json:"bill_id"`
	// ItemID is the item it added, for AddBillItem.
	ItemID string `json:"item_id,omitempty"`
}

// ListFilter selects bills; the conditions combine with AND and empty ones match all.
type ListFilter struct {
	// Statuses keeps bills in one of these statuses.
	Statuses []Status
	// CustomerID keeps one customer's bills.
	CustomerID string
	// ChangedSince keeps bills whose UpdateTime is at or after it.
	ChangedSince time.Time
}

// PageCursor is the position after the last bill of a page, in ListBills' order (most
// recently changed first, ties by id descending).
type PageCursor struct {
	// UpdateTime and ID are the last bill's.
	UpdateTime time.Time
	ID         string
}

// Store is what the domain needs from storage. Every method returns kit/errs errors
// (storage errors mapped once, by the store).
type Store interface {
	// CreateBill inserts b and emits EventOpened, claiming key (kit/idempotency) in the
	// same transaction: a retry returns the bill the first call created, and a reuse with
	// other parameters fails with INVALID_ARGUMENT naming request_id. The empty key
	// claims nothing.
	CreateBill(ctx context.Context, b Bill, key idempotency.Key) (Bill, error)
	// GetBill returns the bill with its items and their summaries, or NOT_FOUND
	// (BILL_NOT_FOUND).
	GetBill(ctx context.Context, id string) (Bill, error)
	// ListBills returns at most limit bills matching f after the cursor (nil: from the
	// start), with their items and summaries, from one snapshot. When onItems is not
	// nil, it is called once, before the bills are read, with the references of exactly
	// the items the bills returned will have (so the caller can start fetching their
	// details while the bills are read).
	ListBills(ctx context.Context, f ListFilter, after *PageCursor, limit int, onItems func([]ItemRef)) ([]Bill, error)
	// Recorded returns the result recorded for key, if any; a reuse with other
	// parameters fails with INVALID_ARGUMENT naming request_id.
	Recorded(ctx context.Context, key idempotency.Key) (Recorded, bool, error)
	// Mutate locks the bill, runs fn on it and persists what fn's Change says, emitting
	// its event, all in one transaction, claiming key in it. With a recorded result for
	// key, fn does not run and the bill's current state is returned with the recorded
	// result.
	Mutate(ctx context.Context, billID string, key idempotency.Key, now time.Time, fn func(b *Bill) (Change, error)) (Bill, Recorded, error)
	// Track makes the read model apply the provider's events about a reservation from
	// now on; otherwise only the events of reservations on bills are applied. AddItem
	// calls it before it fetches the reservation's details, so that every event is
	// either reflected in those details or applied after them.
	Track(ctx context.Context, provider, reservationID string) error
	// CustomerBills returns the customer's bills in the given statuses, with items.
	CustomerBills(ctx context.Context, customerID string, statuses []Status) ([]Bill, error)
}

// Providers is what the domain needs from the reservation providers.
type Providers interface {
	// Provider returns the name of the provider configured for kind.
	Provider(kind Kind) (string, bool)
	// Details fetches the details of ids from provider: one GetReservationDetails call
	// (per chunk of the contract's maximum batch) with the view given. The results are in
	// the order of ids. An error means the provider could not answer at all.
	Details(ctx context.Context, provider string, ids []string, view View) ([]Lookup, error)
	// Freshness returns how current billing's summaries of provider's items are.
	Freshness(provider string) Freshness
}

// Options tunes a Service. Zero fields take the defaults.
type Options struct {
	// DetailsTimeout is each provider's deadline for a page's details (default 300 ms),
	// inside the caller's deadline.
	DetailsTimeout time.Duration
	// Grace is how long a finalized bill may stay unpaid before the customer is PAST_DUE
	// (default 72 hours).
	Grace time.Duration
	// Block is how long a finalized bill may stay unpaid before the customer is BLOCKED
	// (default 7 days).
	Block time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Payments reaches the payment service and Sagas stores pay sagas; PayBill answers
	// UNAVAILABLE without them.
	Payments Payments
	Sagas    SagaStore
	// SagaStarted, when set, is called after PayBill started a saga (it wakes the runner).
	SagaStarted func()
	// Gate refuses suspended customers' payments (suspension.go); nil admits everyone.
	Gate CustomerGate
	// DetailsCacheSize is how many reservations' details (per view) pages may serve
	// without asking their provider again (detailscache.go): 0 means
	// DefaultDetailsCacheSize, a negative size keeps none.
	DetailsCacheSize int
}

// Defaults of Options.
const (
	DefaultDetailsTimeout = 300 * time.Millisecond
	DefaultGrace          = 72 * time.Hour
	DefaultBlock          = 7 * 24 * time.Hour
)

// Service is billing's use cases.
type Service struct {
	store     Store
	providers Providers
	opts      Options
	cache     *detailsCache // nil when disabled
}

// New returns the service on store and providers.
func New(store Store, providers Providers, opts Options) *Service {
	if opts.DetailsTimeout <= 0 {
		opts.DetailsTimeout = DefaultDetailsTimeout
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Block <= 0 {
		opts.Block = DefaultBlock
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: store, providers: providers, opts: opts, cache: newDetailsCache(opts.DetailsCacheSize)}
}

// now returns the current time, truncated to what PostgreSQL stores.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// requireCaller fails anonymous callers.
func requireCaller(c caller.Caller) error {
	if c.Role == caller.Anonymous {
		return denied("the call needs an authenticated caller")
	}
	return nil
}

// NewBill is what CreateBill needs.
type NewBill struct {
	// CustomerID is the customer who will owe the bill.
	CustomerID string
	// Currency is the bill's ISO 4217 currency.
	Currency string
	// SubStatus is the initial sub-status.
	SubStatus string
}

// CreateBill opens a bill for in.CustomerID.
func (s *Service) CreateBill(ctx context.Context, c caller.Caller, in NewBill, requestID string) (Bill, error) {
	if err := validateID("customer_id", in.CustomerID); err != nil {
		return Bill{}, err
	}
	if err := money.CheckCurrency("currency_code", in.Currency); err != nil {
		return Bill{}, err
	}
	if err := validateText("sub_status", in.SubStatus, MaxSubStatus); err != nil {
		return Bill{}, err
	}
	switch {
	case c.Role == caller.Customer && c.Subject != in.CustomerID:
		return Bill{}, errs.NotSettable("customer_id", "a customer may open bills only for themself")
	case !c.MayAccess(in.CustomerID):
		return Bill{}, denied("only customers, operators and services may open bills")
	case in.SubStatus != "" && !c.Privileged():
		return Bill{}, errs.NotSettable("sub_status", "only operators and services may set a bill's sub-status")
	}
	now := s.now()
	b := Bill{
		ID: NewID(), CustomerID: in.CustomerID, Currency: in.Currency, Status: StatusOpen,
		SubStatus: in.SubStatus, CreateTime: now, UpdateTime: now, Version: 1,
	}
	key, err := requestKey("CreateBill", c, requestID, in.CustomerID, in.Currency, in.SubStatus)
	if err != nil {
		return Bill{}, err
	}
	out, err := s.store.CreateBill(ctx, b, key)
	if err != nil {
		return Bill{}, err
	}
	return s.decorate(out), nil
}

// GetBill returns one bill; with a view above BASIC it also fetches its items' details.
func (s *Service) GetBill(ctx context.Context, c caller.Caller, id string, view View) (Bill, error) {
	if err := ids.Check("bill_id", id); err != nil {
		return Bill{}, err
	}
	if err := requireCaller(c); err != nil {
		return Bill{}, err
	}
	b, err := s.visibleBill(ctx, c, id)
	if err != nil {
		return Bill{}, err
	}
	bills := []Bill{b}
	if view == ViewStandard || view == ViewFull {
		s.fillDetails(ctx, bills, view)
	}
	return bills[0], nil
}

// visibleBill loads a bill the caller may see; others' bills are reported as not found.
func (s *Service) visibleBill(ctx context.Context, c caller.Caller, id string) (Bill, error) {
	b, err := s.store.GetBill(ctx, id)
	if err != nil {
		return Bill{}, err
	}
	if !c.MayAccess(b.CustomerID) {
		return Bill{}, billNotFound(id)
	}
	return s.decorate(b), nil
}

// decorate sets every item's freshness from its provider's position in its event stream.
func (s *Service) decorate(b Bill) Bill {
	for i := range b.Items {
		b.Items[i].Freshness = s.freshness(b.Items[i])
	}
	return b
}

func (s *Service) freshness(it Item) Freshness {
	if it.Summary == nil {
		return Freshness{State: FreshnessUnavailable}
	}
	if s.providers == nil {
		return Freshness{State: FreshnessStale}
	}
	return s.providers.Freshness(it.Provider)
}

// AddItem adds the reservation (kind, reservationID) to an OPEN bill after checking
// with its provider, in one GetReservationDetails call, that it exists, belongs to the
// bill's customer, is billable and is priced in the bill's currency. It returns the bill
// and the new item's id.
func (s *Service) AddItem(ctx context.Context, c caller.Caller, billID string, kind Kind, reservationID, requestID string) (Bill, string, error) {
	if err := ids.Check("bill_id", billID); err != nil {
		return Bill{}, "", err
	}
	if kind <= 0 {
		return Bill{}, "", errs.Invalid("kind", "is required")
	}
	if err := validateID("reservation_id", reservationID); err != nil {
		return Bill{}, "", err
	}
	if err := requireCaller(c); err != nil {
		return Bill{}, "", err
	}
	provider, ok := "", false
	if s.providers != nil {
		provider, ok = s.providers.Provider(kind)
	}
	if !ok {
		return Bill{}, "", errs.Invalid("kind", "no provider is configured for kind %d", kind)
	}
	key, err := requestKey("AddBillItem", c, requestID, billID, strconv.Itoa(int(kind)), reservationID)
	if err != nil {
		return Bill{}, "", err
	}
	if rec, ok, err := s.store.Recorded(ctx, key); err != nil {
		return Bill{}, "", err
	} else if ok {
		b, err := s.visibleBill(ctx, c, rec.BillID)
		return b, rec.ItemID, err
	}
	b, err := s.visibleBill(ctx, c, billID)
	if err != nil {
		return Bill{}, "", err
	}
	if err := b.requireOpen(); err != nil {
		return Bill{}, "", err
	}
	if err := s.store.Track(ctx, provider, reservationID); err != nil {
		return Bill{}, "", err
	}
	sum, err := s.checkReservation(ctx, c, b, kind, provider, reservationID)
	if err != nil {
		return Bill{}, "", err
	}
	now := s.now()
	item := Item{ID: NewID(), Kind: kind, Provider: provider, ReservationID: reservationID, Summary: &sum, CreateTime: now}
	out, rec, err := s.store.Mutate(ctx, billID, key, now, func(b *Bill) (Change, error) {
		if !c.MayAccess(b.CustomerID) {
			return Change{}, billNotFound(billID)
		}
		return b.AddItem(item)
	})
	if err != nil {
		return Bill{}, "", err
	}
	if !c.MayAccess(out.CustomerID) {
		return Bill{}, "", billNotFound(out.ID)
	}
	return s.decorate(out), rec.ItemID, nil
}

// checkReservation asks the provider about one reservation and checks that it may be
// added to b.
func (s *Service) checkReservation(ctx context.Context, c caller.Caller, b Bill, kind Kind, provider, id string) (Summary, error) {
	dctx, cancel := context.WithTimeout(ctx, max(s.opts.DetailsTimeout, 2*time.Second))
	defer cancel()
	res, err := s.providers.Details(dctx, provider, []string{id}, ViewBasic)
	if err != nil {
		if ctx.Err() != nil {
			return Summary{}, ctx.Err()
		}
		if errs.KindOf(err) == errs.InvalidArgument {
			// The provider refused the one id we sent: it is not one of its ids.
			return Summary{}, errs.Invalid("reservation_id", "is not a well-formed reservation id of provider %s", provider)
		}
		return Summary{}, errs.Unreachable(ReasonProviderUnavailable,
			"provider %s cannot be reached; retry with the same request_id: %v", provider, err).WithCause(err)
	}
	if len(res) != 1 {
		return Summary{}, errs.Unreachable(ReasonProviderUnavailable, "provider %s answered %d results for one id", provider, len(res))
	}
	r := res[0]
	switch r.Status {
	case LookupFound:
	case LookupUnavailable:
		return Summary{}, errs.Unreachable(ReasonProviderUnavailable, "provider %s: %s", provider, r.Error)
	default:
		return Summary{}, reservationNotFound(provider, id)
	}
	sum := r.Summary
	sum.Provider, sum.ReservationID = provider, id
	switch {
	case sum.CustomerID != b.CustomerID && !c.Privileged():
		// A customer's bill is their own, so the reservation is someone else's: answered
		// exactly like one that does not exist, so that AddBillItem is no existence oracle.
		return Summary{}, reservationNotFound(provider, id)
	case sum.Kind != 0 && sum.Kind != kind:
		return Summary{}, errs.Invalid("kind", "reservation %s is of kind %d, not %d", id, sum.Kind, kind)
	case sum.CustomerID != b.CustomerID:
		return Summary{}, errs.Precondition(ReasonCustomerMismatch, "reservation %s belongs to another customer than bill %s", id, b.ID)
	case !sum.MainStatus.Billable():
		return Summary{}, errs.Precondition(ReasonNotBillable, "reservation %s is cancelled or expired", id)
	case sum.Amount.Currency != "" && sum.Amount.Currency != b.Currency:
		return Summary{}, errs.Precondition(ReasonCurrencyMismatch, "reservation %s is priced in %s, the bill in %s", id, sum.Amount.Currency, b.Currency)
	}
	sum.Kind = kind
	return sum, nil
}

// RemoveItem removes an item from an OPEN bill.
func (s *Service) RemoveItem(ctx context.Context, c caller.Caller, billID, itemID, requestID string) (Bill, error) {
	if err := ids.Check("bill_id", billID); err != nil {
		return Bill{}, err
	}
	if err := ids.Check("item_id", itemID); err != nil {
		return Bill{}, err
	}
	key, err := requestKey("RemoveBillItem", c, requestID, billID, itemID)
	if err != nil {
		return Bill{}, err
	}
	return s.mutate(ctx, c, billID, key, func(b *Bill, _ time.Time) (Change, error) { return b.RemoveItem(itemID) })
}

// Finalize freezes an OPEN bill's items and amounts.
func (s *Service) Finalize(ctx context.Context, c caller.Caller, billID string, expectedVersion int64, requestID string) (Bill, error) {
	if err := ids.Check("bill_id", billID); err != nil {
		return Bill{}, err
	}
	if err := validateVersion(expectedVersion); err != nil {
		return Bill{}, err
	}
	key, err := requestKey("FinalizeBill", c, requestID, billID, strconv.FormatInt(expectedVersion, 10))
	if err != nil {
		return Bill{}, err
	}
	return s.mutate(ctx, c, billID, key, func(b *Bill, now time.Time) (Change, error) {
		if err := b.checkVersion(expectedVersion); err != nil {
			return Change{}, err
		}
		return b.Finalize(now)
	})
}

// Cancel cancels an OPEN, FINALIZED or FAILED bill.
func (s *Service) Cancel(ctx context.Context, c caller.Caller, billID, reason string, expectedVersion int64, requestID string) (Bill, error) {
	if err := ids.Check("bill_id", billID); err != nil {
		return Bill{}, err
	}
	if err := validateText("reason", reason, MaxCancelReason); err != nil {
		return Bill{}, err
	}
	if err := validateVersion(expectedVersion); err != nil {
		return Bill{}, err
	}
	key, err := requestKey("CancelBill", c, requestID, billID, reason, strconv.FormatInt(expectedVersion, 10))
	if err != nil {
		return Bill{}, err
	}
	return s.mutate(ctx, c, billID, key, func(b *Bill, now time.Time) (Change, error) {
		if err := b.checkVersion(expectedVersion); err != nil {
			return Change{}, err
		}
		return b.Cancel(reason, now)
	})
}

// SetSubStatus sets a bill's sub-status; operators and services only.
func (s *Service) SetSubStatus(ctx context.Context, c caller.Caller, billID, sub string, expectedVersion int64) (Bill, error) {
	if err := ids.Check("bill_id", billID); err != nil {
		return Bill{}, err
	}
	if err := validateText("sub_status", sub, MaxSubStatus); err != nil {
		return Bill{}, err
	}
	if err := validateVersion(expectedVersion); err != nil {
		return Bill{}, err
	}
	if err := requireCaller(c); err != nil {
		return Bill{}, err
	}
	if !c.Privileged() {
		return Bill{}, denied("only operators and services may set a bill's sub-status")
	}
	return s.mutate(ctx, c, billID, idempotency.Key{}, func(b *Bill, _ time.Time) (Change, error) {
		if err := b.checkVersion(expectedVersion); err != nil {
			return Change{}, err
		}
		return b.SetSubStatus(sub), nil
	})
}

// mutate runs fn on the bill in the store's transaction, hiding bills the caller may not
// see.
func (s *Service) mutate(ctx context.Context, c caller.Caller, billID string, key idempotency.Key, fn func(b *Bill, now time.Time) (Change, error)) (Bill, error) {
	if err := requireCaller(c); err != nil {
		return Bill{}, err
	}
	now := s.now()
	b, _, err := s.store.Mutate(ctx, billID, key, now, func(b *Bill) (Change, error) {
		if !c.MayAccess(b.CustomerID) {
			return Change{}, billNotFound(billID)
		}
		return fn(b, now)
	})
	if err != nil {
		return Bill{}, err
	}
	if !c.MayAccess(b.CustomerID) {
		return Bill{}, billNotFound(billID)
	}
	return s.decorate(b), nil
}
