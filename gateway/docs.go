package gateway

import (
	"net/http"

	"github.com/waybill/waybill/gen/openapi"
)

// docsPolicy lets the /docs page run only what it carries: its inline scripts and styles,
// images and fonts written as data: URLs, and the search worker Redoc starts from a blob.
// The page is rendered from the OpenAPI document at generate time (see gen/openapi) and
// needs no network; the policy makes sure it cannot reach out even if a later Redoc tried.
const docsPolicy = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; " +
	"img-src data:; font-src data:; worker-src blob:; connect-src 'none'; base-uri 'none'; form-action 'none'"

// serveOpenAPI answers the OpenAPI 3 document.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi.JSON)
}

// serveDocs answers the human-readable API reference page.
func serveDocs(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", docsPolicy)
	_, _ = w.Write(openapi.DocsHTML)
}
