package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/waybill/waybill/gen/openapi"
)

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestServesOpenAPI3 checks that /openapi.json is the generated OpenAPI 3 document and
// that the gateway serves every public route the document lists. tools/openapi's tests
// validate the document itself.
func TestServesOpenAPI3(t *testing.T) {
	t.Parallel()
	hts, _ := start(t)
	resp, body := get(t, hts.URL+"/openapi.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/openapi.json = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openapi.JSON) {
		t.Error("/openapi.json is not the embedded document")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Info.Title != "Waybill API" {
		t.Errorf("document is OpenAPI %q titled %q, want 3.x titled Waybill API", doc.OpenAPI, doc.Info.Title)
	}
	public := 0
	for path, item := range doc.Paths {
		op, ok := item["get"]
		if !ok || op.Security == nil || len(*op.Security) > 0 {
			continue
		}
		public++
		if resp, _ := get(t, hts.URL+path); resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("public route GET %s = %d", path, resp.StatusCode)
		}
	}
	if public == 0 {
		t.Error("the document lists no public route")
	}
}

// externalResource matches an HTML element that would load something from another origin.
var externalResource = regexp.MustCompile(`<(script|link|img|iframe|source)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//`)

// TestServesDocsPage checks that /docs is the reference page rendered from the document,
// self-contained, with a policy that keeps the browser from loading anything else.
func TestServesDocsPage(t *testing.T) {
	t.Parallel()
	hts, _ := start(t)
	resp, body := get(t, hts.URL+"/docs")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openapi.DocsHTML) {
		t.Error("/docs is not the embedded page")
	}
	for _, want := range []string{"<title>Waybill API reference</title>", "UpdateDeparture", "bearerAuth"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/docs has no %q", want)
		}
	}
	if m := externalResource.Find(body); m != nil {
		t.Errorf("/docs loads a resource from the network: %s", m)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'none'", "img-src data:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
}
