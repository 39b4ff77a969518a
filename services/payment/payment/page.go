package payment

import (
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
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

// limit validates the page size and returns the number of items to return.
func (p Page) limit() (int, error) { return page.Limit(p.Size, DefaultPageSize, MaxPageSize) }

// decodeCursor reads the page's token, issued for filter, into cursor, whose id it checks
// (the id goes into SQL as a uuid). It reports false for the first page.
func (p Page) decodeCursor(filter string, cursor any, id func() string) (bool, error) {
	ok, err := page.Decode(p.Token, filter, cursor)
	if err != nil || !ok {
		return false, err
	}
	if !ids.ValidUUID(id()) {
		return false, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
	}
	return true, nil
}
