// Package page is Waybill's one page-token codec and page-size rule for List calls
// (AIP-158): a token is an opaque, URL-safe encoding of the position after the last item
// returned and a fingerprint of the filters it was issued for, so a token is refused with
// other filters instead of silently skipping or repeating items.
package page

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/waybill/waybill/kit/errs"
)

// Limit returns how many items a page of the requested size holds: def for 0, at most
// max, and an InvalidArgument error naming page_size for a negative size.
func Limit(size, def, max int) (int, error) {
	switch {
	case size < 0:
		return 0, errs.Invalid("page_size", "must not be negative")
	case size == 0:
		return def, nil
	case size > max:
		return max, nil
	}
	return size, nil
}

// Fingerprint identifies a list's filters (and view, and anything else that decides
// which items a page holds), to issue tokens for.
func Fingerprint(parts ...any) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%q", parts))
	return hex.EncodeToString(h[:8])
}

// token is the JSON inside a page token.
type token struct {
	// F is the fingerprint of the filters.
	F string `json:"f"`
	// C is the cursor: the position after the page's last item.
	C json.RawMessage `json:"c"`
}

// Encode returns the token of cursor (any JSON-encodable position, for example a struct
// of the last item's sort key and id) for a list with filter fingerprint filter.
func Encode(cursor any, filter string) string {
	c, err := json.Marshal(cursor)
	if err != nil {
		panic(fmt.Sprintf("page: cursor %T cannot be encoded: %v", cursor, err))
	}
	b, _ := json.Marshal(token{F: filter, C: c})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads tok, issued by Encode for filter, into cursor (a pointer). It reports
// false, with no error, for an empty token (the first page), and an InvalidArgument
// error naming page_token when tok is malformed or was issued for other filters.
func Decode(tok, filter string, cursor any) (bool, error) {
	if tok == "" {
		return false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	var t token
	if err != nil || json.Unmarshal(raw, &t) != nil || json.Unmarshal(t.C, cursor) != nil {
		return false, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
	}
	if t.F != filter {
		return false, errs.Invalid("page_token", "was issued for other filters or another view; keep them the same across pages")
	}
	return true, nil
}
