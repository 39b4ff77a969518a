package booking

import (
	"time"

	"github.com/waybill/waybill/kit/page"
)

// Page sizes of list and search methods (kit/page's rules: 0 means the default, more
// than the maximum is lowered to it).
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// TimeCursor is a position in a list ordered by a time and an id.
type TimeCursor struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

// NameCursor is a position in a list ordered by (city,) name and id.
type NameCursor struct {
	City string `json:"c,omitempty"`
	Name string `json:"n"`
	ID   string `json:"i"`
}

// pageQuery is where a list call starts: its limit, the cursor of its page token (nil
// on the first page) and the fingerprint of its filters, for the next token.
type pageQuery[C any] struct {
	limit  int
	after  *C
	filter string
}

// readPage applies the page size rules and reads a page token issued for the filters
// fingerprinted from filter (kit/page refuses a token issued for other filters).
func readPage[C any](size int, token string, filter ...any) (pageQuery[C], error) {
	q := pageQuery[C]{filter: page.Fingerprint(filter...)}
	var err error
	if q.limit, err = page.Limit(size, DefaultPageSize, MaxPageSize); err != nil {
		return q, err
	}
	var c C
	ok, err := page.Decode(token, q.filter, &c)
	if err != nil {
		return q, err
	}
	if ok {
		q.after = &c
	}
	return q, nil
}

// cut cuts the limit+1 items a store returned into a page, with the next token made from
// the cursor of the last item kept.
func cut[T, C any](q pageQuery[C], items []T, cursor func(T) C) Page[T] {
	if len(items) <= q.limit {
		return Page[T]{Items: items}
	}
	items = items[:q.limit]
	return Page[T]{Items: items, NextToken: page.Encode(cursor(items[len(items)-1]), q.filter)}
}

// DepartureFilter selects departures for ListDepartures.
type DepartureFilter struct {
	Mode                Mode
	Carrier             string
	Origin, Destination string
	Status              DepartureStatus
	From, To            time.Time
	Now                 time.Time
	After               *TimeCursor
	Limit               int
}

// DepartureSearch selects departures for SearchDepartures.
type DepartureSearch struct {
	Origin, Destination string
	Date                Date
	Mode                Mode
	Now                 time.Time
	After               *TimeCursor
	Limit               int
}

// PropertyFilter selects properties for ListProperties.
type PropertyFilter struct {
	City   string
	Status PropertyStatus
	After  *NameCursor
	Limit  int
}

// StaySearch selects properties for SearchStays.
type StaySearch struct {
	City              string
	CheckIn, CheckOut Date
	After             *NameCursor
	Limit             int
}

// ReservationFilter selects reservations for ListReservations, newest first.
type ReservationFilter struct {
	CustomerID  string
	Statuses    []Status
	Kind        Kind
	DepartureID string
	PropertyID  string
	After       *TimeCursor
	Limit       int
}

// Page is one page of a list: the items and the token of the next page ("" on the last).
type Page[T any] struct {
	Items     []T
	NextToken string
}
