package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
)

// refuseInvalidUTF8 is a grpc-gateway middleware that answers 400 INVALID_ARGUMENT for a
// request whose path parameters or query string, once unescaped, are not UTF-8
// ("/v1/bills/%B4"). grpc-gateway copies them into string fields as they are, and
// protobuf cannot encode such a string: the gateway's own gRPC client would fail the call
// with INTERNAL (500). JSON bodies need no check: protojson refuses invalid UTF-8 itself.
func refuseInvalidUTF8(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		for name, v := range params {
			if !utf8.ValidString(v) {
				writeStatus(w, http.StatusBadRequest, codes.InvalidArgument,
					fmt.Sprintf("path parameter %.64q is not valid UTF-8", name))
				return
			}
		}
		query, _ := url.ParseQuery(r.URL.RawQuery) // a malformed query is refused later, as before
		for name, vs := range query {
			valid := utf8.ValidString(name)
			for _, v := range vs {
				valid = valid && utf8.ValidString(v)
			}
			if !valid {
				writeStatus(w, http.StatusBadRequest, codes.InvalidArgument,
					fmt.Sprintf("query parameter %.64q is not valid UTF-8", name))
				return
			}
		}
		next(w, r, params)
	}
}
