package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
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
	b := &metadataBilling{got: make(chan metadata.MD, 1)}
	addr := serveBackend(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, b) })
	g := newGateway(t, addr, Config{})
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
