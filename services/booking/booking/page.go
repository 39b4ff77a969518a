package booking

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Page sizes of list and search methods.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageSize applies the API's page size rules: 0 means the default, values above the
// maximum are lowered to it, and negative values are invalid.
func PageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, Invalid("page_size", "must not be negative")
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

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

// encodeToken makes an opaque page token of a cursor.
func encodeToken(cursor any) string {
	b, _ := json.Marshal(cursor) // cursors are plain structs: never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken reads a page token into cursor; an empty token leaves it nil.
func decodeToken[T any](tok string) (*T, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, Invalid("page_token", "is malformed")
	}
	var c T
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, Invalid("page_token", "is malformed")
	}
	return &c, nil
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

// page cuts the limit+1 items a store returned into a page, with the next token made from
// the last item kept.
func page[T any](items []T, limit int, cursor func(T) any) Page[T] {
	if len(items) <= limit {
		return Page[T]{Items: items}
	}
	items = items[:limit]
	return Page[T]{Items: items, NextToken: encodeToken(cursor(items[len(items)-1]))}
}
