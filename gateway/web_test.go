package gateway

import (
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/waybill/waybill/web"
)

// TestWebPages checks that the gateway serves the embedded pages without a token (with
// their content security policy and caching), that the root redirects to them, and that
// the API they call still needs one.
func TestWebPages(t *testing.T) {
	hts := serveGateway(t, deadAddr(t), Config{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(hts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	resp, page := get("/app/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<div id="app">`) {
		t.Fatalf("GET /app/ = %d %q", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /app/ Content-Security-Policy = %q", csp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /app/ Cache-Control = %q, want no-cache", cc)
	}

	// Every asset the page names is served, typed and cacheable for good.
	assets := regexp.MustCompile(`/app/assets/[^"]+`).FindAllString(page, -1)
	if len(assets) < 2 {
		t.Fatalf("the page names %d assets, want its script and its styles: %s", len(assets), page)
	}
	for _, a := range assets {
		resp, body := get(a)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d (%d bytes)", a, resp.StatusCode, len(body))
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control = %q", a, cc)
		}
		want := map[bool]string{true: "text/javascript", false: "text/css"}[strings.HasSuffix(a, ".js")]
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s Content-Type = %q, want %s", a, ct, want)
		}
	}
	// The embedded files are the ones the page names (nothing stale left behind).
	n := 0
	_ = fs.WalkDir(web.Assets(), "assets", func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != len(assets) {
		t.Errorf("web/dist/assets holds %d files, the page names %d", n, len(assets))
	}

	if resp, _ := get("/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app/" {
		t.Errorf("GET / = %d to %q, want 302 to /app/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/app/assets/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /app/assets/ = %d, want 404 (no folder listings)", resp.StatusCode)
	}
	if resp, _ := get("/app/assets/missing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a missing asset = %d, want 404", resp.StatusCode)
	}
	if resp, _ := get("/nothing-here"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET an unknown path without a token = %d, want 401 (only the listed routes are public)", resp.StatusCode)
	}
	if resp, _ := get("/v1/bills"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/bills without a token = %d, want 401", resp.StatusCode)
	}
}
