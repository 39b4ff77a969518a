package idempotency_test

import (
	"bytes"
	"testing"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
)

// FuzzCheckRequestID checks arbitrary request ids as every retriable mutation does: an
// id is accepted exactly when it is 1 to MaxRequestID printable ASCII characters (or
// empty and not required), and refused with INVALID_ARGUMENT naming request_id. The seeds
// run with every `go test`; to fuzz:
//
//	go test -run '^$' -fuzz '^FuzzCheckRequestID$' -fuzztime 30s ./kit/idempotency
func FuzzCheckRequestID(f *testing.F) {
	for _, id := range []string{"", "r-1", "e2e-hold", " ", "~", "\x7f", "tab\t", "é", string(make([]byte, 129))} {
		f.Add(id, false)
		f.Add(id, true)
	}
	f.Fuzz(func(t *testing.T, id string, required bool) {
		err := idempotency.CheckRequestID(id, required)
		want := len(id) <= idempotency.MaxRequestID && (id != "" || !required)
		for i := 0; i < len(id); i++ {
			want = want && id[i] >= ' ' && id[i] <= '~'
		}
		if (err == nil) != want {
			t.Fatalf("CheckRequestID(%q, %v) = %v, want accepted %v", id, required, err, want)
		}
		if err != nil {
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != "request_id" {
				t.Fatalf("CheckRequestID(%q) = %v, want INVALID_ARGUMENT naming request_id", id, err)
			}
		}
	})
}

// FuzzFingerprint: the parameters of a call are told apart however their text is split
// between parts (the same request id with other parameters must be refused, never
// replayed).
func FuzzFingerprint(f *testing.F) {
	f.Add("ab", "c", uint8(1))
	f.Add("", "1:a", uint8(2))
	f.Add("EUR", "100", uint8(0))
	f.Fuzz(func(t *testing.T, a, b string, cut uint8) {
		joined := a + b
		k := int(cut) % (len(joined) + 1)
		a2, b2 := joined[:k], joined[k:]
		if a2 == a {
			return
		}
		if bytes.Equal(idempotency.Fingerprint(a, b), idempotency.Fingerprint(a2, b2)) {
			t.Fatalf("Fingerprint(%q, %q) = Fingerprint(%q, %q)", a, b, a2, b2)
		}
		if bytes.Equal(idempotency.Fingerprint(a, b), idempotency.Fingerprint(joined)) {
			t.Fatalf("Fingerprint(%q, %q) = Fingerprint(%q)", a, b, joined)
		}
	})
}
