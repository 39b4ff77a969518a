package billing

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/ids"
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
func (s *Service) ListBills(ctx context.Context, c Caller, q ListQuery) (Page, error) {
	if err := requireCaller(c); err != nil {
		return Page{}, err
	}
	for _, st := range q.Filter.Statuses {
		if !st.Valid() {
			return Page{}, Invalid("statuses", "unknown status %d", st)
		}
	}
	if q.PageSize < 0 {
		return Page{}, Invalid("page_size", "must not be negative")
	}
	size := q.PageSize
	if size == 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	if q.Filter.CustomerID == "" && !c.Privileged() {
		if c.Role != RoleCustomer {
			return Page{}, reasonf(ErrPermissionDenied, ReasonPermissionDenied, "only operators and services may list every customer's bills")
		}
		q.Filter.CustomerID = c.Subject
	}
	if !c.MayAccess(q.Filter.CustomerID) {
		return Page{}, reasonf(ErrPermissionDenied, ReasonPermissionDenied, "a customer may list only their own bills")
	}
	view := q.View
	if view == ViewUnspecified {
		view = ViewBasic
	}
	filterKey := q.Filter.key(view)
	var after *PageCursor
	if q.PageToken != "" {
		cur, err := decodePageToken(q.PageToken, filterKey)
		if err != nil {
			return Page{}, err
		}
		after = &cur
	}
	bills, err := s.store.ListBills(ctx, q.Filter, after, size+1)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if len(bills) > size {
		bills = bills[:size]
		last := bills[size-1]
		page.NextPageToken = encodePageToken(PageCursor{UpdateTime: last.UpdateTime, ID: last.ID}, filterKey)
	}
	for i := range bills {
		bills[i] = s.decorate(bills[i])
	}
	if view == ViewStandard || view == ViewFull {
		s.FillDetails(ctx, bills, view)
	}
	page.Bills = bills
	return page, nil
}

// key digests the filter and view, so that a page token is only used with the filter
// it was issued for.
func (f ListFilter) key(v View) string {
	st := slices.Clone(f.Statuses)
	slices.Sort(st)
	h := fnv64()
	h.add(fmt.Sprint(st))
	h.add(f.CustomerID)
	if !f.ChangedSince.IsZero() {
		h.add(f.ChangedSince.UTC().Format(time.RFC3339Nano))
	}
	h.add(fmt.Sprint(v))
	return fmt.Sprintf("%016x", h.sum)
}

type pageToken struct {
	T int64  `json:"t"`
	I string `json:"i"`
	F string `json:"f"`
}

func encodePageToken(c PageCursor, filterKey string) string {
	b, _ := json.Marshal(pageToken{T: c.UpdateTime.UnixMicro(), I: c.ID, F: filterKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(tok, filterKey string) (PageCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	var t pageToken
	if err != nil || json.Unmarshal(raw, &t) != nil || !ids.ValidUUID(t.I) {
		return PageCursor{}, Invalid("page_token", "malformed")
	}
	if t.F != filterKey {
		return PageCursor{}, Invalid("page_token", "issued for different filters or view")
	}
	return PageCursor{UpdateTime: time.UnixMicro(t.T).UTC(), ID: t.I}, nil
}

// FillDetails fetches the details of every item of bills: the items' reservation ids
// are grouped by provider and each provider gets one Details call for all of them (the
// Providers implementation splits it into chunks of the contract's maximum), all
// providers in parallel, each under its own deadline inside ctx's. A provider that fails
// or is too slow marks only its own items unavailable.
func (s *Service) FillDetails(ctx context.Context, bills []Bill, view View) {
	// Each provider's distinct ids, in the order first seen, and for each item the
	// provider and the position of its id there (slots, in item order).
	type key struct{ provider, id string }
	type slot struct{ provider, id int }
	var (
		providers  []string
		byProvider [][]string
		index      = map[key]int{}
	)
	n := 0
	for bi := range bills {
		n += len(bills[bi].Items)
	}
	slots := make([]slot, 0, n)
	for bi := range bills {
		for _, it := range bills[bi].Items {
			pi := slices.Index(providers, it.Provider)
			if pi < 0 {
				pi = len(providers)
				providers = append(providers, it.Provider)
				byProvider = append(byProvider, nil)
			}
			k := key{it.Provider, it.ReservationID}
			ii, ok := index[k]
			if !ok {
				ii = len(byProvider[pi])
				index[k] = ii
				byProvider[pi] = append(byProvider[pi], it.ReservationID)
			}
			slots = append(slots, slot{pi, ii})
		}
	}
	results := make([][]Lookup, len(providers))
	errs := make([]error, len(providers))
	var wg sync.WaitGroup
	for i, p := range providers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, s.opts.DetailsTimeout)
			defer cancel()
			res, err := s.providers.Details(pctx, p, byProvider[i], view)
			if err != nil {
				errs[i] = err
				return
			}
			results[i] = res
		}()
	}
	wg.Wait()
	// One Lookup per provider and id, shared by the items naming it (read only).
	lookups := make([][]Lookup, len(providers))
	for i, ids := range byProvider {
		ls := make([]Lookup, len(ids))
		for j, id := range ids {
			switch {
			case errs[i] != nil:
				ls[j] = Lookup{ID: id, Status: LookupUnavailable, Error: errs[i].Error()}
			case j < len(results[i]) && results[i][j].ID == id: // in the order of ids, as promised
				ls[j] = results[i][j]
			default:
				ls[j] = Lookup{ID: id, Status: LookupUnavailable, Error: "provider gave no result for the id"}
			}
		}
		lookups[i] = ls
	}
	k := 0
	for bi := range bills {
		items := bills[bi].Items
		for ii := range items {
			sl := slots[k]
			k++
			items[ii].Details = &lookups[sl.provider][sl.id]
		}
	}
}

// MaxWatchBillIDs is the most bill ids one WatchBills filter may name.
const MaxWatchBillIDs = 500

// CheckWatch validates a WatchBills filter and applies the caller's rights to it, as
// ListBills does: customers watch only their own bills.
func (s *Service) CheckWatch(c Caller, f *ListFilter, billIDs []string) error {
	if err := requireCaller(c); err != nil {
		return err
	}
	for _, st := range f.Statuses {
		if !st.Valid() {
			return Invalid("statuses", "unknown status %d", st)
		}
	}
	if len(billIDs) > MaxWatchBillIDs {
		return Invalid("bill_ids", "at most %d ids", MaxWatchBillIDs)
	}
	for _, id := range billIDs {
		if err := ValidateUUID("bill_ids", id); err != nil {
			return err
		}
	}
	if f.CustomerID == "" && !c.Privileged() {
		if c.Role != RoleCustomer {
			return reasonf(ErrPermissionDenied, ReasonPermissionDenied, "only operators and services may watch every customer's bills")
		}
		f.CustomerID = c.Subject
	}
	if !c.MayAccess(f.CustomerID) {
		return reasonf(ErrPermissionDenied, ReasonPermissionDenied, "a customer may watch only their own bills")
	}
	return nil
}
