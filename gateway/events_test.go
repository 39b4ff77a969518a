package gateway

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSubscribeOverRESTIsForServicesAndOperators: GET /v1/events/{service}:subscribe
// through the gateway to a real EventStreamService: no token is 401 (at the edge),
// customers and drivers get 403 (from the service), operators and services get the
// stream.
func TestSubscribeOverRESTIsForServicesAndOperators(t *testing.T) {
	t.Parallel()
	signer, err := auth.NewSigner("gateway-events-secret-16+")
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewDB(t, "booking", outbox.Migrations)
	log := outbox.New(pool, "booking", outbox.Options{})
	reader := eventstream.NewReader(pool, "booking", log, eventstream.ReaderOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = log.Run(ctx) }()
	go func() { _ = reader.Run(ctx) }()
	addr := serveBackend(t, func(s *grpc.Server) {
		eventsv1.RegisterEventStreamServiceServer(s, eventstream.NewServer("booking", nil, reader, eventstream.ServerOptions{}))
	}, grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()))
	hts := serveGateway(t, addr, Config{Auth: signer})

	for _, c := range []struct {
		name string
		id   auth.Identity
		want int
	}{
		{"no token", auth.Identity{}, http.StatusUnauthorized},
		{"customer", auth.Identity{Subject: "c-1", Role: auth.RoleCustomer}, http.StatusForbidden},
		{"driver", auth.Identity{Subject: "d-1", Role: auth.RoleDriver}, http.StatusForbidden},
		{"operator", auth.Identity{Subject: "ops-1", Role: auth.RoleOperator}, http.StatusOK},
		{"service", auth.Identity{Subject: "billing", Role: auth.RoleService}, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", hts.URL+"/v1/events/booking:subscribe", nil)
			if c.id != (auth.Identity{}) {
				tok, err := signer.Sign(c.id, time.Minute)
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
			first, _ := bufio.NewReader(resp.Body).ReadString('\n')
			if resp.StatusCode != c.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, first, c.want)
			}
			if c.want == http.StatusOK && !strings.Contains(first, `"heartbeat":true`) {
				t.Errorf("first line %q, want a heartbeat", first)
			}
		})
	}
}
