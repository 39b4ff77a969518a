package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestSignVerify(t *testing.T) {
	s, err := NewSigner("0123456789abcdef-secret")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(Identity{Subject: "c1", Role: RoleCustomer}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Verify(tok)
	if err != nil || id != (Identity{Subject: "c1", Role: RoleCustomer}) {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	other, _ := NewSigner("another-secret-of-16+bytes")
	forged, _ := other.Sign(Identity{Subject: "c1", Role: RoleOperator}, time.Minute)
	payload, _, _ := strings.Cut(tok, ".")
	_, forgedSig, _ := strings.Cut(forged, ".")
	for _, bad := range []string{"", "x", "a.b", forged, payload + "." + forgedSig, tok + "x"} {
		if _, err := s.Verify(bad); err == nil {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, err := s.Verify(tok); err == nil {
		t.Error("an expired token was accepted")
	}
	if _, err := s.Sign(Identity{Subject: "x", Role: "king"}, time.Minute); err == nil {
		t.Error("signed an unknown role")
	}
	if _, err := NewSigner("short"); err == nil {
		t.Error("accepted a short secret")
	}
}

func TestAccess(t *testing.T) {
	cases := []struct {
		id   Identity
		cust string
		want bool
	}{
		{Identity{Subject: "c1", Role: RoleCustomer}, "c1", true},
		{Identity{Subject: "c1", Role: RoleCustomer}, "c2", false},
		{Identity{Subject: "d1", Role: RoleDriver}, "d1", false},
		{Identity{Subject: "ops", Role: RoleOperator}, "c2", true},
		{Identity{Subject: "billing", Role: RoleService}, "c2", true},
	}
	for _, c := range cases {
		if got := c.id.MayAccess(c.cust); got != c.want {
			t.Errorf("%+v.MayAccess(%s) = %v", c.id, c.cust, got)
		}
	}
}

func TestInterceptor(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef-secret")
	tok, _ := s.Sign(Identity{Subject: "c1", Role: RoleCustomer}, time.Minute)
	ic := s.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/waybill.billing.v1.BillingService/GetBill"}
	call := func(md metadata.MD) (Identity, bool, error) {
		var got Identity
		var ok bool
		_, err := ic(metadata.NewIncomingContext(context.Background(), md), nil, info, func(ctx context.Context, _ any) (any, error) {
			got, ok = FromContext(ctx)
			return nil, nil
		})
		return got, ok, err
	}
	if id, ok, err := call(metadata.Pairs("authorization", "Bearer "+tok)); err != nil || !ok || id.Subject != "c1" {
		t.Errorf("valid token: %+v %v %v", id, ok, err)
	}
	if _, ok, err := call(metadata.MD{}); err != nil || ok {
		t.Errorf("no token: ok=%v err=%v, want anonymous", ok, err)
	}
	for _, bad := range []string{"Bearer nope", "Basic abc", tok} {
		if _, _, err := call(metadata.Pairs("authorization", bad)); status.Code(err) != codes.Unauthenticated {
			t.Errorf("authorization %q: %v, want UNAUTHENTICATED", bad, err)
		}
	}
	if _, err := Require(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Require without identity: %v", err)
	}
}

// TestTokenSourceReusesItsToken: the per-call credentials sign a token once a minute,
// not on every call, and every token they send verifies with time to spare.
func TestTokenSourceReusesItsToken(t *testing.T) {
	s, err := NewSigner("0123456789abcdef-secret")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	ts := &tokenSource{signer: s, id: Identity{Subject: "booking", Role: RoleService}}
	header := func() string {
		t.Helper()
		md, err := ts.GetRequestMetadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tok, ok := strings.CutPrefix(md[authorizationKey], "Bearer ")
		if !ok {
			t.Fatalf("authorization %q, want a bearer token", md[authorizationKey])
		}
		// The token must still be valid after its reuse ends.
		later := now
		s.now = func() time.Time { return later.Add(tokenReuse) }
		defer func() { s.now = func() time.Time { return now } }()
		if id, err := s.Verify(tok); err != nil || id != ts.id {
			t.Fatalf("token sent at %v: Verify a minute later = %+v, %v", now, id, err)
		}
		return tok
	}
	first := header()
	now = now.Add(30 * time.Second)
	if got := header(); got != first {
		t.Error("a second call within the reuse period signed a new token")
	}
	now = now.Add(tokenReuse)
	if got := header(); got == first {
		t.Error("the token was still sent after its reuse period")
	}
}
