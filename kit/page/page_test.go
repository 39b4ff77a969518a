package page_test

import (
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/page"
)

type cursor struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

func TestRoundTrip(t *testing.T) {
	f := page.Fingerprint("CONFIRMED", "c-1", 2)
	want := cursor{Time: time.Date(2026, 12, 6, 10, 0, 0, 123000, time.UTC), ID: "3ee179dd-9062-4daa-916a-204231ea7d35"}
	tok := page.Encode(want, f)
	var got cursor
	ok, err := page.Decode(tok, f, &got)
	if err != nil || !ok || !got.Time.Equal(want.Time) || got.ID != want.ID {
		t.Fatalf("Decode(Encode(%v)) = %v, %v, %v", want, got, ok, err)
	}
	if ok, err := page.Decode("", f, &got); ok || err != nil {
		t.Errorf("Decode of the empty token = %v, %v; want false, nil", ok, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	f := page.Fingerprint("a")
	tok := page.Encode(cursor{ID: "x"}, f)
	for name, tc := range map[string]struct{ tok, filter string }{
		"other filters": {tok, page.Fingerprint("b")},
		"not base64":    {"%%%", f},
		"not json":      {"bm90IGpzb24", f},
		"truncated":     {tok[:len(tok)-3], f},
	} {
		var c cursor
		_, err := page.Decode(tc.tok, tc.filter, &c)
		e, ok := errs.As(err)
		if !ok || e.Kind != errs.InvalidArgument || e.Fields[0].Field != "page_token" {
			t.Errorf("%s: Decode = %v, want INVALID_ARGUMENT naming page_token", name, err)
		}
	}
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct{ size, want int }{{0, 50}, {1, 1}, {500, 500}, {501, 500}} {
		if got, err := page.Limit(tc.size, 50, 500); err != nil || got != tc.want {
			t.Errorf("Limit(%d) = %d, %v; want %d", tc.size, got, err, tc.want)
		}
	}
	if _, err := page.Limit(-1, 50, 500); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("Limit(-1) = %v, want INVALID_ARGUMENT", err)
	}
}
