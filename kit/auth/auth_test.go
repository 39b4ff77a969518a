package auth

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/waybill/waybill/kit/auth/authtest"
)

const testSecret = "0123456789abcdef-secret"

// t0 is the tests' clock.
var t0 = time.Unix(1_800_000_000, 0)

// newTestSigner returns a signer for testSecret at t0 with the options changed by edit.
func newTestSigner(t *testing.T, edit func(*Options)) *Signer {
	t.Helper()
	o := DefaultOptions()
	o.Secret = testSecret
	o.now = func() time.Time { return t0 }
	if edit != nil {
		edit(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hs signs claims with HS256 and key, as anyone holding the key could.
func hs(t *testing.T, key []byte, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// local returns claims the local mesh would sign for c1 at t0, changed by edit.
func local(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := authtest.Claims("waybill", "waybill", "c1", "customer", t0, time.Hour)
	if edit != nil {
		edit(c)
	}
	return c
}

func TestSignVerify(t *testing.T) {
	s := newTestSigner(t, nil)
	tok, err := s.Sign(Identity{Subject: "c1", Role: RoleCustomer}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Verify(tok)
	if err != nil || id != (Identity{Subject: "c1", Role: RoleCustomer}) {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	// The token is a JWT with the standard claims.
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != "waybill" || c["sub"] != "c1" || c["role"] != "customer" || c["exp"] != float64(t0.Unix()+60) ||
		c["iat"] != float64(t0.Unix()) || c["nbf"] != float64(t0.Unix()) {
		t.Errorf("claims %v", c)
	}
	if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != "waybill" {
		t.Errorf("aud %v", aud)
	}
	if _, err := s.Sign(Identity{Subject: "x", Role: "king"}, time.Minute); err == nil {
		t.Error("signed an unknown role")
	}
	if _, err := s.Sign(Identity{Subject: "x", Role: RoleCustomer}, 25*time.Hour); err == nil {
		t.Error("signed a token living longer than the maximum lifetime")
	}
	if _, err := NewSigner("short"); err == nil {
		t.Error("accepted a short secret")
	}
}

// TestRefusals: every token that must not pass is refused with ErrInvalidToken, and the
// interceptor answers UNAUTHENTICATED for it.
func TestRefusals(t *testing.T) {
	idp := authtest.NewProvider(t)
	idp.AddRSA(t, "rsa-1")
	idp.AddEC(t, "ec-1")
	other := authtest.NewProvider(t) // keys the signer does not know
	other.AddRSA(t, "rsa-x")
	s := newTestSigner(t, func(o *Options) {
		o.JWKS = idp.URL
		o.JWKSIssuer = "https://idp.example"
	})
	key := []byte(testSecret)
	external := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := authtest.Claims("https://idp.example", "waybill", "c1", "customer", t0, time.Hour)
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := map[string]string{
		"HS256":       hs(t, key, local(nil)),
		"RS256 JWKS":  idp.Sign(t, "rsa-1", external(nil)),
		"ES256 JWKS":  idp.Sign(t, "ec-1", external(nil)),
		"string aud":  hs(t, key, local(func(c jwt.MapClaims) { c["aud"] = []string{"other", "waybill"} })),
		"within skew": hs(t, key, local(func(c jwt.MapClaims) { c["iat"], c["nbf"] = t0.Unix()+20, t0.Unix()+20 })),
	}
	for name, tok := range good {
		if id, err := s.Verify(tok); err != nil || id != (Identity{Subject: "c1", Role: RoleCustomer}) {
			t.Errorf("%s: Verify = %+v, %v; want c1 customer", name, id, err)
		}
	}

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, local(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, external(nil))
	confused.Header["kid"] = "rsa-1"
	confusedTok, err := confused.SignedString(idp.PublicKeyPEM(t, "rsa-1"))
	if err != nil {
		t.Fatal(err)
	}
	// An ES256 token naming the RSA key's id: the key's type pins its algorithm.
	wrongKeyType := jwt.NewWithClaims(jwt.SigningMethodES256, external(nil))
	wrongKeyType.Header["kid"] = "rsa-1"
	wrongKeyTypeTok, err := wrongKeyType.SignedString(idp.Key("ec-1"))
	if err != nil {
		t.Fatal(err)
	}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, local(nil)).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	noKid, err := jwt.NewWithClaims(jwt.SigningMethodRS256, external(nil)).SignedString(idp.Key("rsa-1"))
	if err != nil {
		t.Fatal(err)
	}
	operator := func(c jwt.MapClaims) { c["role"] = "operator" }

	cases := []struct{ name, token, reason string }{
		{"empty", "", "malformed"},
		{"garbage", "a.b.c", "malformed"},
		{"expired", hs(t, key, local(func(c jwt.MapClaims) { c["iat"], c["exp"] = t0.Unix()-7200, t0.Unix()-3600 })), "expired"},
		{"not yet valid (nbf)", hs(t, key, local(func(c jwt.MapClaims) { c["nbf"] = t0.Unix() + 600 })), "not valid yet"},
		{"issued in the future", hs(t, key, local(func(c jwt.MapClaims) { c["iat"] = t0.Unix() + 600 })), "issued in the future"},
		{"wrong audience", hs(t, key, local(func(c jwt.MapClaims) { c["aud"] = "billing" })), "wrong audience"},
		{"no audience", hs(t, key, local(func(c jwt.MapClaims) { delete(c, "aud") })), "missing a required claim"},
		{"wrong issuer", hs(t, key, local(func(c jwt.MapClaims) { c["iss"] = "evil" })), "wrong issuer"},
		{"HS256 with the provider's issuer", hs(t, key, external(nil)), "wrong issuer"},
		{"RS256 with the local issuer", idp.Sign(t, "rsa-1", local(nil)), "wrong issuer"},
		{"RS256 for another audience", idp.Sign(t, "rsa-1", external(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), "wrong audience"},
		{"alg none", none, "bad signature or algorithm"},
		{"HS512", hs512, "bad signature or algorithm"},
		{"HS256 signed with the RSA public key (HS/RS confusion)", confusedTok, "bad signature or algorithm"},
		{"ES256 naming an RSA key", wrongKeyTypeTok, "verifies RS256, not ES256"},
		{"unknown kid", other.Sign(t, "rsa-x", external(nil)), "unknown key id"},
		{"RS256 without kid", noKid, "without a key id"},
		{"tampered HS256 payload", authtest.Tamper(t, hs(t, key, local(nil)), local(operator)), "bad signature or algorithm"},
		{"tampered RS256 payload", authtest.Tamper(t, idp.Sign(t, "rsa-1", external(nil)), external(operator)), "bad signature or algorithm"},
		{"forged with another secret", hs(t, []byte("another-secret-of-16+bytes"), local(nil)), "bad signature or algorithm"},
		{"lifetime over the maximum", hs(t, key, local(func(c jwt.MapClaims) { c["exp"] = t0.Add(25 * time.Hour).Unix() })), "over the maximum"},
		{"no exp", hs(t, key, local(func(c jwt.MapClaims) { delete(c, "exp") })), "missing a required claim"},
		{"no iat", hs(t, key, local(func(c jwt.MapClaims) { delete(c, "iat") })), "no iat"},
		{"unknown role", hs(t, key, local(func(c jwt.MapClaims) { c["role"] = "king" })), "known role"},
		{"no subject", hs(t, key, local(func(c jwt.MapClaims) { delete(c, "sub") })), "subject"},
	}
	ic := s.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/waybill.billing.v1.BillingService/GetBill"}
	for _, c := range cases {
		_, err := s.Verify(c.token)
		if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: Verify error %v, want ErrInvalidToken saying %q", c.name, err, c.reason)
		}
		md := metadata.Pairs("authorization", "Bearer "+c.token)
		_, err = ic(metadata.NewIncomingContext(context.Background(), md), nil, info, func(context.Context, any) (any, error) {
			return nil, nil
		})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: interceptor %v, want UNAUTHENTICATED", c.name, err)
		}
	}

	// Without a JWKS, RS256 tokens are refused whatever their signature.
	plain := newTestSigner(t, nil)
	if _, err := plain.Verify(idp.Sign(t, "rsa-1", local(nil))); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("RS256 without a JWKS: %v, want ErrInvalidToken", err)
	}
}

// TestLeeway: exp, nbf and iat are checked give or take the configured clock skew.
func TestLeeway(t *testing.T) {
	s := newTestSigner(t, func(o *Options) { o.Leeway = 30 * time.Second })
	key := []byte(testSecret)
	at := func(iat, nbf, exp int64) string {
		return hs(t, key, local(func(c jwt.MapClaims) { c["iat"], c["nbf"], c["exp"] = t0.Unix()+iat, t0.Unix()+nbf, t0.Unix()+exp }))
	}
	cases := []struct {
		name  string
		token string
		ok    bool
	}{
		{"expired 20 s ago", at(-600, -600, -20), true},
		{"expired 40 s ago", at(-600, -600, -40), false},
		{"valid from 20 s on", at(0, 20, 600), true},
		{"valid from 40 s on", at(0, 40, 600), false},
		{"issued 20 s ahead", at(20, 0, 600), true},
		{"issued 40 s ahead", at(40, 0, 600), false},
	}
	for _, c := range cases {
		_, err := s.Verify(c.token)
		if (err == nil) != c.ok {
			t.Errorf("%s: Verify error %v, want ok=%v", c.name, err, c.ok)
		}
	}
	strict := newTestSigner(t, func(o *Options) { o.Leeway = 0 })
	if _, err := strict.Verify(at(-600, -600, -1)); err == nil {
		t.Error("leeway 0: a token expired a second ago was accepted")
	}
}

// TestJWKSRotation: a key the provider adds is fetched when a token first names it
// (at most once per JWKSMinInterval), and a key it removes stops verifying once the set
// is read again.
func TestJWKSRotation(t *testing.T) {
	idp := authtest.NewProvider(t)
	idp.AddRSA(t, "k1")
	now := t0
	s := newTestSigner(t, func(o *Options) {
		o.JWKS = idp.URL
		o.JWKSMinInterval = time.Minute
		o.JWKSRefresh = 10 * time.Minute
		o.now = func() time.Time { return now }
	})
	claims := func() jwt.MapClaims { return authtest.Claims("waybill", "waybill", "d1", "driver", now, time.Hour) }
	verify := func(tok string) error {
		_, err := s.Verify(tok)
		return err
	}
	if idp.Fetches() != 1 {
		t.Fatalf("New read the JWKS %d times, want once", idp.Fetches())
	}
	old := idp.Sign(t, "k1", claims())
	if err := verify(old); err != nil {
		t.Fatalf("k1: %v", err)
	}

	// The provider rotates in k2. Within a minute of the last read, an unknown kid does
	// not read the set again (a flood of made-up kids cannot hammer the provider).
	idp.AddRSA(t, "k2")
	if err := verify(idp.Sign(t, "k2", claims())); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("k2 right after a read: %v, want refused", err)
	}
	if idp.Fetches() != 1 {
		t.Errorf("an unknown kid read the JWKS within the minimum interval (%d reads)", idp.Fetches())
	}
	now = now.Add(time.Minute)
	if err := verify(idp.Sign(t, "k2", claims())); err != nil {
		t.Errorf("k2 once the interval passed: %v", err)
	}
	if idp.Fetches() != 2 {
		t.Errorf("%d reads, want 2", idp.Fetches())
	}
	if err := verify(idp.Sign(t, "k2", claims())); err != nil || idp.Fetches() != 2 {
		t.Errorf("a known kid: %v, %d reads (want no new read)", err, idp.Fetches())
	}

	// The provider retires k1. Once the keys are older than JWKSRefresh they are read
	// again (in the background); from then on k1 is refused.
	idp.Remove("k1")
	now = now.Add(10 * time.Minute)
	old = idp.Sign(t, "k1", claims()) // still signable by whoever holds the old key
	_ = verify(old)                   // starts the refresh
	deadline := time.Now().Add(5 * time.Second)
	for idp.Fetches() < 3 || s.jwks.refreshing.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("stale keys were not read again (%d reads)", idp.Fetches())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := verify(old); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "unknown key id") {
		t.Errorf("k1 after its removal: %v, want refused as an unknown key", err)
	}
	if err := verify(idp.Sign(t, "k2", claims())); err != nil {
		t.Errorf("k2 after k1's removal: %v", err)
	}
}

// TestJWKSFile: the key set can be a file; a file that cannot be read fails New.
func TestJWKSFile(t *testing.T) {
	idp := authtest.NewProvider(t)
	idp.AddEC(t, "ec-1")
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, idp.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestSigner(t, func(o *Options) { o.JWKS = path })
	tok := idp.Sign(t, "ec-1", authtest.Claims("waybill", "waybill", "ops", "operator", t0, time.Hour))
	if id, err := s.Verify(tok); err != nil || id != (Identity{Subject: "ops", Role: RoleOperator}) {
		t.Errorf("ES256 with a JWKS file: %+v, %v", id, err)
	}
	o := DefaultOptions()
	o.Secret, o.JWKS = testSecret, filepath.Join(t.TempDir(), "missing.json")
	if _, err := New(o); err == nil {
		t.Error("New accepted a JWKS file that does not exist")
	}
}

// TestParseJWKSSkipsUnusableKeys: keys that cannot verify tokens here are left out of
// the set without hiding the good ones.
func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	idp := authtest.NewProvider(t)
	idp.AddRSA(t, "good")
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(idp.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	rsaKey := doc.Keys[0]
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range rsaKey {
			m[a] = b
		}
		m["kid"] = k + "=" + v
		m[k] = v
		return m
	}
	bad := []map[string]string{
		{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		with("use", "enc"),
		with("alg", "HS256"),
		with("n", "AQAB"), // a 17-bit modulus
		with("e", "AQ"),   // exponent 1
		with("kid", ""),
		{"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": strings.Repeat("A", 43), "y": strings.Repeat("A", 43)},
		{"kty": "EC", "kid": "wrong-alg", "crv": "P-256", "alg": "ES384", "x": "", "y": ""},
	}
	body, _ := json.Marshal(map[string]any{"keys": append(bad, rsaKey)})
	keys, err := parseJWKS(body, DefaultOptions().withDefaults().Logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys["good"].alg != "RS256" {
		t.Errorf("keys %v, want only the good RSA key", keys)
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
	s := newTestSigner(t, nil)
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
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER  " + tok} {
		if id, ok, err := call(metadata.Pairs("authorization", h)); err != nil || !ok || id.Subject != "c1" {
			t.Errorf("%.8q: %+v %v %v", h, id, ok, err)
		}
	}
	if _, ok, err := call(metadata.MD{}); err != nil || ok {
		t.Errorf("no token: ok=%v err=%v, want anonymous", ok, err)
	}
	for _, bad := range []string{"Bearer nope", "Basic abc", tok, "Bearer "} {
		if _, _, err := call(metadata.Pairs("authorization", bad)); status.Code(err) != codes.Unauthenticated {
			t.Errorf("authorization %q: %v, want UNAUTHENTICATED", bad, err)
		}
	}
	s.now = func() time.Time { return t0.Add(time.Hour) }
	if _, _, err := call(metadata.Pairs("authorization", "Bearer "+tok)); status.Code(err) != codes.Unauthenticated ||
		status.Convert(err).Message() != "invalid token: expired" {
		t.Errorf("expired token: %v, want UNAUTHENTICATED saying it expired", err)
	}
	if _, err := Require(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Require without identity: %v", err)
	}
}

// TestTokenSourceReusesItsToken: the per-call credentials sign a token once a minute,
// not on every call, and every token they send verifies with time to spare.
func TestTokenSourceReusesItsToken(t *testing.T) {
	s := newTestSigner(t, nil)
	now := t0
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
