package gateway

import (
	"net/http"
	"strings"

	"github.com/waybill/waybill/web"
)

// webPolicy lets the pages run only their own scripts and styles and call only the
// gateway that served them (the API and /healthz); the bearer token they send lives in the
// page, never in a cookie, so other sites cannot make calls with it.
const webPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// webHandler serves the built pages (package web) under /app/: index.html for /app/,
// and the content-hashed files under /app/assets/, which may be cached for good. Folders
// are not listed.
func webHandler() http.Handler {
	files := http.StripPrefix("/app", http.FileServerFS(web.Assets()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != "/app/" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", webPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/app/assets/") {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// redirectToApp sends a browser that opens the gateway's root to the pages.
func redirectToApp(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/app/", http.StatusFound)
}
