package notificationapp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/gateway"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/notification/notificationapp"
)

// TestRESTAuthorization: through the real gateway, KPIs are for operators only (a
// customer gets 403, no token 401, bad input 400), and a customer lists only their own
// notifications (another's: 403; a malformed id: 400).
func TestRESTAuthorization(t *testing.T) {
	ac := analyticsapp.DefaultConfig()
	ac.Sources, ac.AlertInterval = map[string]string{}, 0
	as := analyticsapp.Spec()
	as.Register = func(ctx context.Context, d serve.Deps) error { return analyticsapp.Register(ctx, d, ac) }
	a := grpctest.Start(t, as)
	nc := notificationapp.DefaultConfig()
	nc.Sources = map[string]string{}
	ns := notificationapp.Spec()
	ns.Register = func(ctx context.Context, d serve.Deps) error { return notificationapp.Register(ctx, d, nc) }
	n := grpctest.Start(t, ns)

	services := map[string]string{}
	for _, name := range []string{"booking", "matching", "trip", "fare", "billing", "payment", "account"} {
		services[name] = a.Addr // not called by this test
	}
	services["analytics"], services["notification"] = a.Addr, n.Addr
	tel, err := telemetry.Setup(context.Background(), "gateway-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), gateway.Config{Services: services, Timeout: 5 * time.Second, Auth: grpctest.Signer()},
		slog.New(slog.DiscardHandler), tel)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	get := func(path string, id auth.Identity) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if id != (auth.Identity{}) {
			tok, err := grpctest.Signer().Sign(id, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ada := auth.Identity{Subject: "ada", Role: auth.RoleCustomer}
	kpis := "/v1/analytics/kpis?startDate.year=2026&startDate.month=12&startDate.day=1&endDate.year=2026&endDate.month=12&endDate.day=7&granularity=GRANULARITY_WEEK&groupBy=DIMENSION_CITY"
	for _, c := range []struct {
		name, path string
		id         auth.Identity
		want       int
		body       string
	}{
		{"operator KPIs", kpis, operator, 200, "{"},
		{"customer KPIs", kpis, ada, 403, ""},
		{"anonymous KPIs", kpis, auth.Identity{}, 401, ""},
		{"KPIs without an end", "/v1/analytics/kpis?startDate.year=2026&startDate.month=12&startDate.day=1", operator, 400, "end_date"},
		{"operator alerts", "/v1/analytics/alerts?openOnly=true", operator, 200, ""},
		{"own notifications", "/v1/notifications", ada, 200, ""},
		{"another's notifications", "/v1/notifications?customerId=bob", ada, 403, ""},
		{"malformed id", "/v1/notifications/nope", ada, 400, "notification_id"},
		{"unknown id", "/v1/notifications/7d5f3d0a-6a51-4b5e-9a3c-2f1f3f3f3f3f", ada, 404, ""},
	} {
		code, body := get(c.path, c.id)
		if code != c.want || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, body, c.want, c.body)
		}
		if code == 200 && !json.Valid([]byte(body)) {
			t.Errorf("%s: not JSON: %s", c.name, body)
		}
	}
}
