// Package authtest is an identity provider for tests: it holds RSA and EC signing keys,
// serves their public halves as a JWKS document over HTTP (keys can be added and
// removed, so tests can rotate them) and signs tokens with them.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Provider is a test identity provider. Its JWKS is served at URL.
type Provider struct {
	// URL is the address of the provider's JWKS document.
	URL string

	mu        sync.Mutex
	keys      map[string]crypto.Signer // every key ever added, by key id
	published map[string]bool          // the key ids in the JWKS
	fetches   atomic.Int64
}

// NewProvider starts a provider with no keys; it stops when the test ends.
func NewProvider(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{keys: map[string]crypto.Signer{}, published: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(p.JWKS())
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/.well-known/jwks.json"
	return p
}

// AddRSA adds a new 2048-bit RSA key (RS256) with the key id kid.
func (p *Provider) AddRSA(t testing.TB, kid string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.add(kid, k)
}

// AddEC adds a new P-256 key (ES256) with the key id kid.
func (p *Provider) AddEC(t testing.TB, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.add(kid, k)
}

func (p *Provider) add(kid string, k crypto.Signer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[kid] = k
	p.published[kid] = true
}

// Remove takes the key kid out of the JWKS; Sign can still sign with it, as whoever
// holds a retired key could.
func (p *Provider) Remove(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.published, kid)
}

// Fetches returns how many times the JWKS has been read.
func (p *Provider) Fetches() int { return int(p.fetches.Load()) }

// Key returns the private key kid (*rsa.PrivateKey or *ecdsa.PrivateKey), or nil.
func (p *Provider) Key(kid string) crypto.Signer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

// PublicKeyPEM returns the public key kid as PEM ("PUBLIC KEY", PKIX): the bytes an
// attacker would use as an HMAC secret in an algorithm-confusion attack.
func (p *Provider) PublicKeyPEM(t testing.TB, kid string) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(p.Key(kid).Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Sign signs claims with the key kid (RS256 for RSA keys, ES256 for EC keys), naming
// kid in the header.
func (p *Provider) Sign(t testing.TB, kid string, claims jwt.Claims) string {
	t.Helper()
	k := p.Key(kid)
	var m jwt.SigningMethod = jwt.SigningMethodRS256
	if _, ok := k.(*ecdsa.PrivateKey); ok {
		m = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Claims returns the claims of a token for sub with role, issued at iat by iss for aud
// and valid for ttl.
func Claims(iss, aud, sub, role string, iat time.Time, ttl time.Duration) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": iss, "aud": aud, "sub": sub, "role": role,
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(ttl).Unix(),
	}
}

// Tamper replaces a token's payload by claims, keeping its header and signature: what
// an attacker who wants another role or subject would send.
func Tamper(t testing.TB, token string, claims jwt.MapClaims) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(body)
	return strings.Join(parts, ".")
}

// JWKS returns the provider's public keys as a JWKS document.
func (p *Provider) JWKS() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	kids := make([]string, 0, len(p.published))
	for kid := range p.published {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	keys := []map[string]string{}
	for _, kid := range kids {
		switch k := p.keys[kid].(type) {
		case *rsa.PrivateKey:
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
		case *ecdsa.PrivateKey:
			pub, err := k.PublicKey.Bytes() // 0x04 || x || y
			if err != nil {
				panic(err)
			}
			n := (len(pub) - 1) / 2
			keys = append(keys, map[string]string{"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
				"x": b64(pub[1 : 1+n]), "y": b64(pub[1+n:])})
		}
	}
	doc, _ := json.Marshal(map[string]any{"keys": keys})
	return doc
}
