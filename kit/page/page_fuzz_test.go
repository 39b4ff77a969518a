package page_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/page"
)

// FuzzDecode reads arbitrary page tokens, as every List call does with the page_token a
// caller sends, into the kinds of cursor the services use (a struct of a time and an id,
// a struct of strings, a string, an int64). Decode must not panic; it refuses a token
// only with INVALID_ARGUMENT naming page_token; a token it accepts must carry the filter
// it was checked against, and its cursor must survive Encode and Decode again. The seeds
// run with every `go test`; to fuzz:
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./kit/page
func FuzzDecode(f *testing.F) {
	filter := page.Fingerprint("CONFIRMED", "c-1", 2)
	f.Add(page.Encode(cursor{Time: time.Date(2026, 12, 6, 10, 0, 0, 123000, time.UTC), ID: "3ee179dd-9062-4daa-916a-204231ea7d35"}, filter), filter)
	f.Add(page.Encode(nameCursor{City: "berlin", Name: "Hotel", ID: "x"}, filter), filter)
	f.Add(page.Encode("zone-7", filter), filter)
	f.Add(page.Encode(int64(42), filter), filter)
	f.Add(page.Encode(nil, filter), filter)
	f.Add("", filter)
	f.Add("%%%", filter)
	f.Add("eyJmIjoiIiwiYyI6bnVsbH0", "")                                        // {"f":"","c":null}
	f.Add("eyJmIjoiIn0", "")                                                    // {"f":""}
	f.Add("eyJmIjoiIiwiYyI6eyJ0IjoiMDAwMC0wMS0wMVQwMDowMDowMC0yMzo1OSJ9fQ", "") // year 0, offset -23:59
	f.Fuzz(func(t *testing.T, tok, filter string) {
		decodeAs[cursor](t, tok, filter)
		decodeAs[nameCursor](t, tok, filter)
		decodeAs[string](t, tok, filter)
		decodeAs[int64](t, tok, filter)
	})
}

// nameCursor is booking's position in a list ordered by city, name and id.
type nameCursor struct {
	City string `json:"c,omitempty"`
	Name string `json:"n"`
	ID   string `json:"i"`
}

func decodeAs[C any](t *testing.T, tok, filter string) {
	t.Helper()
	var c C
	ok, err := page.Decode(tok, filter, &c)
	if err != nil {
		e, isErr := errs.As(err)
		if !isErr || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != "page_token" {
			t.Fatalf("Decode(%q) into %T = %v, want INVALID_ARGUMENT naming page_token", tok, c, err)
		}
		return
	}
	if ok != (tok != "") {
		t.Fatalf("Decode(%q) into %T = %v, nil; want true for every token but the empty one", tok, c, ok)
	}
	if !ok {
		return
	}
	if _, err := page.Decode(tok, filter+"x", new(C)); err == nil {
		t.Fatalf("Decode(%q) into %T accepted the token with another filter", tok, c)
	}
	if _, err := json.Marshal(c); err != nil {
		// Encode would panic: services encode cursors of stored items, never decoded ones,
		// but a cursor a token may carry should be one the services could have issued.
		t.Fatalf("Decode(%q) into %T gave a cursor %v that cannot be encoded: %v", tok, c, c, err)
	}
	var again C
	if ok, err := page.Decode(page.Encode(c, filter), filter, &again); !ok || err != nil || !sameCursor(c, again) {
		t.Fatalf("cursor %#v of token %q did not survive Encode and Decode: %#v, %v, %v", c, tok, again, ok, err)
	}
}

// sameCursor compares cursors, times by the instant and the offset they name.
func sameCursor(a, b any) bool {
	if x, ok := a.(cursor); ok {
		y := b.(cursor)
		_, xo := x.Time.Zone()
		_, yo := y.Time.Zone()
		return x.ID == y.ID && x.Time.Equal(y.Time) && xo == yo
	}
	return reflect.DeepEqual(a, b)
}
