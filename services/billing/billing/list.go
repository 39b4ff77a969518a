package billing

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// ListQuery is a ListBills request.
type ListQuery struct {
	// Filter selects the bills.
	Filter ListFilter
	// PageSize is the most bills per page: 0 means DefaultPageSize, more than
	// MaxPageSize means MaxPageSize.
	PageSize int
	// PageToken continues a previous call with the same filter and view.
	PageToken string
	// View selects how much detail to return.
	View View
}

// Page is one page of bills.
type Page struct {
	// Bills are the page's bills, most recently changed first.
	Bills []Bill
	// NextPageToken continues the list; empty on the last page.
	NextPageToken string
}

// ListBills is the operator panel's query. VIEW_BASIC reads billing's tables only;
// VIEW_STANDARD and VIEW_FULL add the items' details with one batched call per provider.
func (s *Service) ListBills(ctx context.Context, c caller.Caller, q ListQuery) (Page, error) {
	if err := requireCaller(c); err != nil {
		return Page{}, err
	}
	for _, st := range q.Filter.Statuses {
		if !st.Valid() {
			return Page{}, errs.Invalid("statuses", "unknown status %d", st)
		}
	}
	size, err := page.Limit(q.PageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return Page{}, err
	}
	if q.Filter.CustomerID == "" && !c.Privileged() {
		if c.Role != caller.Customer {
			return Page{}, denied("only operators and services may list every customer's bills")
		}
		q.Filter.CustomerID = c.Subject
	}
	if !c.MayAccess(q.Filter.CustomerID) {
		return Page{}, denied("a customer may list only their own bills")
	}
	view := q.View
	if view == ViewUnspecified {
		view = ViewBasic
	}
	filter := q.Filter.fingerprint(view)
	after, err := decodePageToken(q.PageToken, filter)
	if err != nil {
		return Page{}, err
	}
	// With details, the providers are called while billing reads the page: the store
	// hands over the page's item references first (from the page's own snapshot).
	var fetch *detailsFetch
	var onItems func([]ItemRef)
	if view == ViewStandard || view == ViewFull {
		onItems = func(refs []ItemRef) { fetch = s.fetchDetails(ctx, firstBills(refs, size), view) }
	}
	bills, err := s.store.ListBills(ctx, q.Filter, after, size+1, onItems)
	if err != nil {
		if fetch != nil {
			fetch.stop()
		}
		return Page{}, err
	}
	var out Page
	if len(bills) > size {
		bills = bills[:size]
		last := bills[size-1]
		out.NextPageToken = page.Encode(pageToken{T: last.UpdateTime.UnixMicro(), I: last.ID}, filter)
	}
	for i := range bills {
		bills[i] = s.decorate(bills[i])
	}
	if fetch != nil { // the store calls onItems whenever it is set
		fetch.attach(bills)
	}
	out.Bills = bills
	return out, nil
}

// fingerprint identifies the filter and view, so that a page token is only used with the
// filter and view it was issued for.
func (f ListFilter) fingerprint(v View) string {
	st := slices.Clone(f.Statuses)
	slices.Sort(st)
	changed := ""
	if !f.ChangedSince.IsZero() {
		changed = f.ChangedSince.UTC().Format(time.RFC3339Nano)
	}
	return page.Fingerprint(st, f.CustomerID, changed, v)
}

// pageToken is the cursor inside ListBills' page tokens (kit/page): the last bill's
// update time (in microseconds) and id.
type pageToken struct {
	T int64  `json:"t"`
	I string `json:"i"`
}

// decodePageToken returns the cursor of tok, issued for filter; nil for the first page.
func decodePageToken(tok, filter string) (*PageCursor, error) {
	var t pageToken
	if ok, err := page.Decode(tok, filter, &t); !ok || err != nil {
		return nil, err
	}
	if !ids.ValidUUID(t.I) {
		return nil, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
	}
	return &PageCursor{UpdateTime: time.UnixMicro(t.T).UTC(), ID: t.I}, nil
}

// ItemRef names an item's reservation: what fetching its details needs.
type ItemRef struct {
	// Bill is the index of the item's bill in the page.
	Bill int
	// Provider and ReservationID name the reservation.
	Provider, ReservationID string
	// Version is the provider version of billing's summary of the reservation (0 when
	// billing holds none): details of this version need not be fetched again.
	Version int64
}

// firstBills returns the references of refs that belong to the first n bills of the
// page: a page reads one bill more than it returns, to know whether another page
// follows.
func firstBills(refs []ItemRef, n int) []ItemRef {
	out := make([]ItemRef, 0, len(refs))
	for _, r := range refs {
		if r.Bill < n {
			out = append(out, r)
		}
	}
	return out
}

// fillDetails fetches the details of every item of bills and attaches them (see
// fetchDetails).
func (s *Service) fillDetails(ctx context.Context, bills []Bill, view View) {
	var refs []ItemRef
	for bi, b := range bills {
		for _, it := range b.Items {
			r := ItemRef{Bill: bi, Provider: it.Provider, ReservationID: it.ReservationID}
			if it.Summary != nil {
				r.Version = it.Summary.Version
			}
			refs = append(refs, r)
		}
	}
	s.fetchDetails(ctx, refs, view).attach(bills)
}

// detailsKey names one reservation of one provider.
type detailsKey struct{ provider, id string }

// detailsFetch is a details fetch under way: one Details call per provider.
type detailsFetch struct {
	cached     []Lookup // details served from the cache, with cachedKeys
	cachedKeys []detailsKey
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	providers  []string
	byProvider [][]string // each provider's distinct ids, in the order first seen
	results    [][]Lookup
	errs       []error
}

// fetchDetails starts fetching the details of the reservations refs name: those billing
// holds at its summary's version, while the summary is FRESH, come from its cache
// (detailscache.go); the other ids are grouped by provider and each provider gets one
// Details call for all of them (the Providers implementation splits it into chunks of
// the contract's maximum), all providers in parallel, each under its own deadline inside
// ctx's. A provider that fails or is too slow marks only its own fetched items
// unavailable. Call attach or stop once.
func (s *Service) fetchDetails(ctx context.Context, refs []ItemRef, view View) *detailsFetch {
	f := &detailsFetch{}
	seen := make(map[detailsKey]bool, len(refs))
	var fresh map[string]bool // by provider, asked once per fetch
	for _, r := range refs {
		k := detailsKey{r.Provider, r.ReservationID}
		if seen[k] {
			continue
		}
		seen[k] = true
		if l, ok := s.cachedDetails(r, view, &fresh); ok {
			f.cached = append(f.cached, l)
			f.cachedKeys = append(f.cachedKeys, k)
			continue
		}
		pi := slices.Index(f.providers, r.Provider)
		if pi < 0 {
			pi = len(f.providers)
			f.providers = append(f.providers, r.Provider)
			f.byProvider = append(f.byProvider, nil)
		}
		f.byProvider[pi] = append(f.byProvider[pi], r.ReservationID)
	}
	f.results = make([][]Lookup, len(f.providers))
	f.errs = make([]error, len(f.providers))
	ctx, f.cancel = context.WithCancel(ctx)
	for i, p := range f.providers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			pctx, cancel := context.WithTimeout(ctx, s.opts.DetailsTimeout)
			defer cancel()
			f.results[i], f.errs[i] = s.providers.Details(pctx, p, f.byProvider[i], view)
			if f.errs[i] == nil {
				s.cache.put(p, view, f.results[i])
			}
		}()
	}
	return f
}

// cachedDetails returns r's details from the cache when they are of the version of
// billing's summary and its provider's summaries are FRESH; fresh remembers each
// provider's freshness for one fetch.
func (s *Service) cachedDetails(r ItemRef, view View, fresh *map[string]bool) (Lookup, bool) {
	if s.cache == nil || r.Version <= 0 {
		return Lookup{}, false
	}
	if *fresh == nil {
		*fresh = map[string]bool{}
	}
	ok, known := (*fresh)[r.Provider]
	if !known {
		ok = s.providers.Freshness(r.Provider).State == FreshnessFresh
		(*fresh)[r.Provider] = ok
	}
	if !ok {
		return Lookup{}, false
	}
	raw, hit := s.cache.get(r.Provider, r.ReservationID, view, r.Version)
	if !hit {
		return Lookup{}, false
	}
	return Lookup{ID: r.ReservationID, Status: LookupFound, Raw: raw, Version: r.Version}, true
}

// stop abandons the fetch and waits for its calls to end.
func (f *detailsFetch) stop() {
	f.cancel()
	f.wg.Wait()
}

// attach waits for the fetch and sets every item's Details: one Lookup per provider and
// id, shared by the items naming it (read only). An item whose reservation was not
// fetched is marked unavailable.
func (f *detailsFetch) attach(bills []Bill) {
	f.wg.Wait()
	f.cancel()
	n := 0
	for _, ids := range f.byProvider {
		n += len(ids)
	}
	lookups := make(map[detailsKey]*Lookup, n+len(f.cached))
	for i, k := range f.cachedKeys {
		lookups[k] = &f.cached[i]
	}
	for i, ids := range f.byProvider {
		ls := make([]Lookup, len(ids))
		for j, id := range ids {
			switch {
			case f.errs[i] != nil:
				ls[j] = Lookup{ID: id, Status: LookupUnavailable, Error: f.errs[i].Error()}
			case j < len(f.results[i]) && f.results[i][j].ID == id: // in the order of ids, as promised
				ls[j] = f.results[i][j]
			default:
				ls[j] = Lookup{ID: id, Status: LookupUnavailable, Error: "provider gave no result for the id"}
			}
			lookups[detailsKey{f.providers[i], id}] = &ls[j]
		}
	}
	for bi := range bills {
		items := bills[bi].Items
		for ii := range items {
			l, ok := lookups[detailsKey{items[ii].Provider, items[ii].ReservationID}]
			if !ok {
				l = &Lookup{ID: items[ii].ReservationID, Status: LookupUnavailable, Error: "the item was not in the details request"}
			}
			items[ii].Details = l
		}
	}
}

// MaxWatchBillIDs is the most bill ids one WatchBills filter may name.
const MaxWatchBillIDs = 500

// CheckWatch validates a WatchBills filter and applies the caller's rights to it, as
// ListBills does: customers watch only their own bills.
func (s *Service) CheckWatch(c caller.Caller, f *ListFilter, billIDs []string) error {
	if err := requireCaller(c); err != nil {
		return err
	}
	for _, st := range f.Statuses {
		if !st.Valid() {
			return errs.Invalid("statuses", "unknown status %d", st)
		}
	}
	if len(billIDs) > MaxWatchBillIDs {
		return errs.Invalid("bill_ids", "at most %d ids", MaxWatchBillIDs)
	}
	for _, id := range billIDs {
		if err := ids.Check("bill_ids", id); err != nil {
			return err
		}
	}
	if f.CustomerID == "" && !c.Privileged() {
		if c.Role != caller.Customer {
			return denied("only operators and services may watch every customer's bills")
		}
		f.CustomerID = c.Subject
	}
	if !c.MayAccess(f.CustomerID) {
		return denied("a customer may watch only their own bills")
	}
	return nil
}
