package matchinggrpc_test

import (
	"bufio"
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
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/telemetry"
)

// restGateway is the gateway in front of one matching server, over real HTTP.
type restGateway struct {
	t    *testing.T
	base string
}

func newREST(t *testing.T, h *harness) *restGateway {
	t.Helper()
	services := map[string]string{}
	for _, n := range []string{"booking", "matching", "trip", "fare", "billing", "payment", "account", "analytics", "notification"} {
		services[n] = h.srv.Addr // only matching's routes are called
	}
	tel, err := telemetry.Setup(context.Background(), "matching-rest-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), gateway.Config{Services: services, Timeout: 10 * time.Second, Auth: grpctest.Signer()},
		slog.New(slog.NewTextHandler(io.Discard, nil)), tel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	hts := httptest.NewServer(g.Handler())
	t.Cleanup(hts.Close)
	return &restGateway{t: t, base: hts.URL}
}

// request sends a JSON request as id.
func (r *restGateway) request(ctx context.Context, id auth.Identity, method, path string, body any) *http.Response {
	r.t.Helper()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, in)
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
	return resp
}

// do sends a JSON request and decodes the JSON answer.
func (r *restGateway) do(id auth.Identity, method, path string, body any) (int, map[string]any) {
	r.t.Helper()
	resp := r.request(r.t.Context(), id, method, path, body)
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatalf("%s %s: decode body: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// field returns the value at a path of nested JSON objects.
func field(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// TestMatchesOverREST: the driver app's path over the gateway: a trip service creates a
// match (bad input is 400 naming the field), the driver follows offers on the
// newline-delimited JSON stream of WatchDriverOffers and accepts over REST, and the
// ride is released; a FAILED match cannot be cancelled (400, FAILED_PRECONDITION).
func TestMatchesOverREST(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	r := newREST(t, h)
	trip := auth.Identity{Subject: "trip", Role: auth.RoleService}
	d := h.driverAt(t, north(berlin, 100))
	self := auth.Identity{Subject: d.GetId(), Role: auth.RoleDriver}

	code, body := r.do(trip, http.MethodPost, "/v1/matches", map[string]any{"tripId": "rest-1", "product": "standard"})
	if code != http.StatusBadRequest || !bytes.Contains(mustJSON(t, body), []byte(`"pickup"`)) {
		t.Fatalf("POST /v1/matches without pickup = %d %v", code, body)
	}

	// The driver's offer stream, open before the match.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream := r.request(ctx, self, http.MethodGet, "/v1/drivers/"+d.GetId()+"/offers:watch", nil)
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("watch = %d", stream.StatusCode)
	}
	lines := make(chan map[string]any, 10)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	next := func() map[string]any {
		t.Helper()
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatal("the offer stream ended")
				}
				if o, ok := field(m, "result", "offer").(map[string]any); ok {
					return o
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no offer on the stream within 10s")
			}
		}
	}
	if heartbeat := <-lines; field(heartbeat, "result", "heartbeat") != true {
		t.Fatalf("first line %v, want a heartbeat", heartbeat)
	}

	code, body = r.do(trip, http.MethodPost, "/v1/matches", map[string]any{
		"tripId": "rest-1", "product": "standard", "offerTimeout": "10s", "requestId": "rest-create-1",
		"pickup": map[string]any{"latitude": berlin.GetLatitude(), "longitude": berlin.GetLongitude()},
	})
	if code != http.StatusOK || field(body, "match", "status") != "MATCH_STATUS_SEARCHING" {
		t.Fatalf("POST /v1/matches = %d %v", code, body)
	}
	matchID, _ := field(body, "match", "id").(string)
	offer := next()
	if offer["status"] != "OFFER_STATUS_PENDING" || offer["matchId"] != matchID {
		t.Fatalf("streamed offer %v", offer)
	}
	code, body = r.do(self, http.MethodPost, "/v1/offers/"+offer["id"].(string)+":accept", map[string]any{"requestId": "rest-acc-1"})
	if code != http.StatusOK || field(body, "match", "status") != "MATCH_STATUS_ASSIGNED" || field(body, "offer", "status") != "OFFER_STATUS_ACCEPTED" {
		t.Fatalf("accept = %d %v", code, body)
	}
	if changed := next(); changed["status"] != "OFFER_STATUS_ACCEPTED" {
		t.Fatalf("streamed change %v", changed)
	}
	code, body = r.do(trip, http.MethodGet, "/v1/matches/"+matchID+"?view=VIEW_FULL", nil)
	if offers, _ := field(body, "match", "offers").([]any); code != http.StatusOK || len(offers) != 1 {
		t.Fatalf("GET match = %d %v", code, body)
	}
	code, body = r.do(trip, http.MethodPost, "/v1/drivers/"+d.GetId()+":release", map[string]any{"tripId": "rest-1", "reason": "trip_ended"})
	if code != http.StatusOK || field(body, "driver", "status") != "DRIVER_STATUS_AVAILABLE" {
		t.Fatalf("release = %d %v", code, body)
	}

	// A FAILED match cannot be cancelled.
	req := matchReq(100 * time.Millisecond)
	req.Pickup = north(berlin, 300_000)
	m := h.createMatch(t, req)
	h.waitMatch(t, m.GetId(), "FAILED", func(m2 *matchingv1.Match) bool { return m2.GetStatus() == failed })
	code, body = r.do(trip, http.MethodPost, "/v1/matches/"+m.GetId()+":cancel", map[string]any{})
	if code != http.StatusBadRequest || !bytes.Contains(mustJSON(t, body), []byte("MATCH_FAILED")) {
		t.Fatalf("cancel of a FAILED match = %d %v", code, body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
