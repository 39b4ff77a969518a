package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waybill/waybill/kit/auth/authtest"
)

// The fuzz targets of what a caller hands the edge and every service: the Authorization
// header, the token in it, and (from an identity provider) the JWKS document. Their
// seeds run with every `go test`; to fuzz, run one at a time:
//
//	go test -run '^$' -fuzz '^FuzzBearerToken$' -fuzztime 30s ./kit/auth
//	go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 30s ./kit/auth
//	go test -run '^$' -fuzz '^FuzzParseJWKS$' -fuzztime 30s ./kit/auth

// FuzzBearerToken: BearerToken accepts exactly "<bearer in any case> <token>" and
// returns the token without surrounding space.
func FuzzBearerToken(f *testing.F) {
	for _, h := range []string{"Bearer abc", "bearer abc", "BEARER  abc ", "Bearer", "Bearer ", "Basic abc", " Bearer abc", "Bearer\tabc", "Bearer a b", "Bearer \u00a0x\u2028"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := BearerToken(header)
		scheme, rest, hasSpace := strings.Cut(header, " ")
		want := hasSpace && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(rest) != ""
		if ok != want {
			t.Fatalf("BearerToken(%q) = %q, %v; want ok %v", header, tok, ok, want)
		}
		if !ok {
			if tok != "" {
				t.Fatalf("BearerToken(%q) refused the header but returned %q", header, tok)
			}
			return
		}
		if tok != strings.TrimSpace(rest) {
			t.Fatalf("BearerToken(%q) = %q, want %q", header, tok, strings.TrimSpace(rest))
		}
		if again, ok := BearerToken("Bearer " + tok); !ok || again != tok {
			t.Fatalf("BearerToken(\"Bearer \"+%q) = %q, %v; the canonical header the edge forwards must give the same token", tok, again, ok)
		}
	})
}

// FuzzVerify hands Verify arbitrary tokens, seeded with valid HS256, RS256 and ES256
// tokens and the usual attacks on them. Verify must not panic; it refuses only with
// ErrInvalidToken and a short reason (it is shown to the caller); and it accepts only a
// token whose signed part (header and payload) is one a key holder signed: no change to
// a header or a claim, no algorithm swap, gets through.
func FuzzVerify(f *testing.F) {
	p := authtest.NewProvider(f)
	p.AddRSA(f, "rsa-1")
	p.AddEC(f, "ec-1")
	jwks := filepath.Join(f.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, p.JWKS(), 0o600); err != nil {
		f.Fatal(err)
	}
	o := DefaultOptions()
	o.Secret = "0123456789abcdef-fuzz-secret"
	o.JWKS = jwks
	o.now = func() time.Time { return t0 }
	s, err := New(o)
	if err != nil {
		f.Fatal(err)
	}

	signed := map[string]bool{} // the signing inputs of the tokens signed here
	add := func(tok string) {
		signed[tok[:strings.LastIndexByte(tok, '.')]] = true
		f.Add(tok)
	}
	valid := authtest.Claims("waybill", "waybill", "c1", "customer", t0, time.Hour)
	hsTok, err := s.Sign(Identity{Subject: "ops-1", Role: RoleOperator}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	add(hsTok)
	add(p.Sign(f, "rsa-1", valid))
	add(p.Sign(f, "ec-1", valid))
	expired := authtest.Claims("waybill", "waybill", "c1", "customer", t0.Add(-2*time.Hour), time.Hour)
	add(p.Sign(f, "rsa-1", expired))
	long := authtest.Claims("waybill", "waybill", "c1", "customer", t0, 48*time.Hour)
	add(p.Sign(f, "ec-1", long))
	noRole := authtest.Claims("waybill", "waybill", "c1", "", t0, time.Hour)
	add(p.Sign(f, "ec-1", noRole))
	f.Add(authtest.Tamper(f, hsTok, jwt.MapClaims(valid)))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	f.Add(none)
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, valid).SignedString(p.PublicKeyPEM(f, "rsa-1"))
	f.Add(confused)
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", strings.Repeat("A", 5000)} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		id, err := s.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q) = %v, want an ErrInvalidToken", token, err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("Verify(%q) refused with a %d-byte reason; reasons are shown to callers and must not echo input: %q", token, len(err.Error()), err)
			}
			return
		}
		i := strings.LastIndexByte(token, '.')
		if i < 0 || !signed[token[:i]] {
			t.Fatalf("Verify accepted a token whose header and payload no key holder signed: %q → %+v", token, id)
		}
		if id.Subject == "" || !id.Role.Valid() {
			t.Fatalf("Verify(%q) accepted %+v", token, id)
		}
	})
}

// FuzzParseJWKS parses arbitrary JWKS documents: no panic, and every key it keeps can
// verify tokens of the algorithm it is kept for (a named key, RSA of at least 2048 bits
// with a sane exponent, EC on the curve of its algorithm).
func FuzzParseJWKS(f *testing.F) {
	p := authtest.NewProvider(f)
	p.AddRSA(f, "rsa-1")
	p.AddEC(f, "ec-1")
	f.Add(p.JWKS())
	for _, s := range []string{`{"keys":[]}`, `{}`, `null`, `{"keys":null}`, `{"keys":[null]}`,
		`{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"","y":""}]}`,
		`{"keys":[{"kty":"EC","kid":"k","crv":"P-521","alg":"ES512","x":"AA","y":"AA"}]}`,
		`{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}`} {
		f.Add([]byte(s))
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := parseJWKS(doc, logger)
		if err != nil {
			return
		}
		for kid, k := range keys {
			if kid == "" {
				t.Fatalf("kept a key without a kid from %q", doc)
			}
			switch pub := k.key.(type) {
			case *rsa.PublicKey:
				if !strings.HasPrefix(k.alg, "RS") || pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
					t.Fatalf("kept RSA key %q (%s, %d bits, e=%d) from %q", kid, k.alg, pub.N.BitLen(), pub.E, doc)
				}
			case *ecdsa.PublicKey:
				want := map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[pub.Curve.Params().Name]
				if k.alg != want {
					t.Fatalf("kept EC key %q on %s for %s from %q", kid, pub.Curve.Params().Name, k.alg, doc)
				}
				if _, err := pub.Bytes(); err != nil {
					t.Fatalf("kept EC key %q that is not a valid point: %v", kid, err)
				}
			default:
				t.Fatalf("kept key %q of type %T from %q", kid, k.key, doc)
			}
		}
	})
}
