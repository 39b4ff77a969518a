package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/telemetry"
)

// metadataBilling answers GetBill and hands over the metadata it arrived with.
type metadataBilling struct {
	billingv1.UnimplementedBillingServiceServer
	got chan metadata.MD
}

func (b *metadataBilling) GetBill(ctx context.Context, _ *billingv1.GetBillRequest) (*billingv1.GetBillResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	b.got <- md
	return &billingv1.GetBillResponse{}, nil
}

// TestCallersCannotAddAuthorizationMetadata: grpc-gateway forwards a Grpc-Metadata-<Key>
// header as the metadata <key>, so a caller could add a second "authorization" (or
// request id) beside the one the edge verified; services read the first value, which
// may be the caller's. The gateway forwards only its own.
func TestCallersCannotAddAuthorizationMetadata(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	b := &metadataBilling{got: make(chan metadata.MD, 1)}
	billingv1.RegisterBillingServiceServer(srv, b)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	services := map[string]string{}
	for name := range handlers {
		services[name] = lis.Addr().String()
	}
	tel, err := telemetry.Setup(context.Background(), "gateway-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), Config{Services: services, Timeout: 2 * time.Second, Auth: testSigner},
		slog.New(slog.NewTextHandler(io.Discard, nil)), tel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	tok, err := testSigner.Sign(auth.Identity{Subject: "cust-a", Role: auth.RoleCustomer}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/bills/b-1", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("X-Request-Id", "req-1")
	r.Header.Set("Grpc-Metadata-Authorization", "Bearer someone-elses-token")
	r.Header.Set("Grpc-Metadata-X-Request-Id", "req-2")
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET = %d %s", w.Code, w.Body)
	}
	md := <-b.got
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+tok {
		t.Errorf("the service got authorization %q, want only the token the edge verified", got)
	}
	if got := md.Get("x-request-id"); len(got) != 1 || got[0] != "req-1" {
		t.Errorf("the service got request ids %q, want only req-1", got)
	}
}
