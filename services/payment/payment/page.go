package payment

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/ids"
)

// Page sizes of the List calls.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page asks for one page of a list.
type Page struct {
	// Size is the maximum number of items: 0 means DefaultPageSize, larger than MaxPageSize
	// means MaxPageSize, negative is invalid.
	Size int
	// Token is the NextToken of the previous page; empty for the first.
	Token string
}

// pageToken is the opaque page token's content: the position after the last item and a
// fingerprint of the filters it was issued for.
type pageToken struct {
	Filter string    `json:"f"`
	Time   time.Time `json:"t"`
	ID     string    `json:"i"`
	Date   string    `json:"d,omitempty"`
}

// limit validates the page size and returns the number of items to return.
func (p Page) limit() (int, error) {
	switch {
	case p.Size < 0:
		return 0, invalid("page_size", "must not be negative")
	case p.Size == 0:
		return DefaultPageSize, nil
	case p.Size > MaxPageSize:
		return MaxPageSize, nil
	}
	return p.Size, nil
}

// fingerprint identifies a list's filters, so that a token is only accepted with the filters it
// was issued for.
func fingerprint(parts ...any) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%q", parts)))
	return hex.EncodeToString(h[:8])
}

func encodePageToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken reads a page token issued for filter; nil for an empty token.
func decodePageToken(token, filter string) (*pageToken, error) {
	if token == "" {
		return nil, nil
	}
	bad := invalid("page_token", "is malformed or was issued for different filters")
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, bad
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t.Filter != filter || !ids.ValidUUID(t.ID) {
		return nil, bad
	}
	return &t, nil
}
