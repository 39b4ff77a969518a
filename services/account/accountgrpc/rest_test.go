package accountgrpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/waybill/waybill/gateway"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/telemetry"
)

// rest is the gateway in front of one account server, over real HTTP.
type rest struct {
	t    *testing.T
	base string
}

// meshNames are the services the gateway routes; all but account go to the account
// server too, which is never called for them here.
var meshNames = []string{"booking", "matching", "trip", "fare", "billing", "payment", "account", "analytics", "notification"}

func newREST(t *testing.T, h *harness) *rest {
	t.Helper()
	services := map[string]string{}
	for _, n := range meshNames {
		services[n] = h.srv.Addr
	}
	tel, err := telemetry.Setup(context.Background(), "account-rest-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), gateway.Config{Services: services, Timeout: 5 * time.Second, Auth: grpctest.Signer()},
		slog.New(slog.NewTextHandler(io.Discard, nil)), tel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	hts := httptest.NewServer(g.Handler())
	t.Cleanup(hts.Close)
	return &rest{t: t, base: hts.URL}
}

// do sends a JSON request as id and returns the status and the decoded body.
func (r *rest) do(id auth.Identity, method, path string, body any) (int, map[string]any) {
	r.t.Helper()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.t.Context(), method, r.base+path, in)
	if err != nil {
		r.t.Fatal(err)
	}
	tok, err := grpctest.Signer().Sign(id, time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatalf("%s %s: decode body: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// acct returns the account a response body holds.
func acct(body map[string]any) map[string]any {
	a, _ := body["account"].(map[string]any)
	return a
}

// fieldOf returns the first field a 400 body's BadRequest names.
func fieldOf(body map[string]any) string {
	details, _ := body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		vs, _ := m["fieldViolations"].([]any)
		for _, v := range vs {
			if f, ok := v.(map[string]any)["field"].(string); ok {
				return f
			}
		}
	}
	return ""
}

// TestREST: sign-up, bad input, privacy, a code and deletion through the gateway's REST
// mappings, with the HTTP statuses grpc-gateway gives the service's codes.
func TestREST(t *testing.T) {
	t.Parallel()
	h := start(t)
	r := newREST(t, h)
	id := newCustomer()
	me := auth.Identity{Subject: id, Role: auth.RoleCustomer}

	code, body := r.do(me, "POST", "/v1/accounts", map[string]any{
		"profile": map[string]any{"displayName": "Ada"}, "email": map[string]any{"address": "ada@example.com"},
	})
	if code != http.StatusOK || acct(body)["id"] != id || acct(body)["status"] != "ACCOUNT_STATUS_ACTIVE" {
		t.Fatalf("POST /v1/accounts = %d %v", code, body)
	}
	code, body = r.do(auth.Identity{Subject: newCustomer(), Role: auth.RoleCustomer}, "POST", "/v1/accounts",
		map[string]any{"phone": map[string]any{"address": "0151 123"}})
	if code != http.StatusBadRequest || fieldOf(body) != "account.phone.address" {
		t.Fatalf("bad phone = %d %v, want 400 naming account.phone.address", code, body)
	}
	code, _ = r.do(auth.Identity{Subject: "someone-else", Role: auth.RoleCustomer}, "GET", "/v1/accounts/"+id, nil)
	if code != http.StatusNotFound {
		t.Fatalf("another customer's GET = %d, want 404", code)
	}
	code, body = r.do(me, "PATCH", "/v1/accounts/"+id, map[string]any{"preferences": map[string]any{
		"marketing": map[string]any{"channels": []string{"CHANNEL_EMAIL"}, "optedOut": false}}})
	if code != http.StatusOK || acct(body)["preferences"].(map[string]any)["marketing"].(map[string]any)["optedOut"] == true || acct(body)["version"] != "2" {
		t.Fatalf("PATCH preferences = %d %v", code, body)
	}
	code, body = r.do(me, "POST", "/v1/accounts/"+id+":sendVerificationCode", map[string]any{"kind": "CONTACT_KIND_EMAIL"})
	if code != http.StatusOK || body["maskedDestination"] != "a***@example.com" || body["code"] != nil {
		t.Fatalf("sendVerificationCode = %d %v", code, body)
	}
	code, body = r.do(me, "POST", "/v1/accounts/"+id+":verifyContact", map[string]any{"kind": "CONTACT_KIND_EMAIL", "code": "12"})
	if code != http.StatusBadRequest || fieldOf(body) != "code" {
		t.Fatalf("verifyContact with a short code = %d %v", code, body)
	}
	code, body = r.do(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}, "GET", "/v1/accounts?pageSize=10", nil)
	if code != http.StatusOK || body["accounts"].([]any)[0].(map[string]any)["email"].(map[string]any)["address"] != "a***@example.com" {
		t.Fatalf("operator's list = %d %v, want the email masked", code, body)
	}
	code, body = r.do(me, "DELETE", "/v1/accounts/"+id, nil)
	if code != http.StatusOK || acct(body)["status"] != "ACCOUNT_STATUS_DELETED" || acct(body)["email"] != nil {
		t.Fatalf("DELETE = %d %v", code, body)
	}
}
