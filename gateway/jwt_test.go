package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/auth/authtest"
)

const jwtTestSecret = "gateway-jwt-test-secret"

// startJWT runs the gateway with a verifier that accepts HS256 tokens signed with
// jwtTestSecret and RS256/ES256 tokens signed with idp's keys, in front of a live
// billing server.
func startJWT(t *testing.T, idp *authtest.Provider) (*httptest.Server, *billing) {
	t.Helper()
	b := &billing{requestIDs: make(chan string, 100)}
	addr := serveBackend(t, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, b) })
	o := auth.DefaultOptions()
	o.Secret, o.JWKS, o.JWKSIssuer = jwtTestSecret, idp.URL, "https://idp.example"
	signer, err := auth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return serveGateway(t, addr, Config{Auth: signer}), b
}

// TestEdgeRefusesBadJWTs: every token the verifier must refuse gets 401 UNAUTHENTICATED
// at the gateway and never reaches the service; good HS256, RS256 and ES256 tokens pass.
func TestEdgeRefusesBadJWTs(t *testing.T) {
	t.Parallel()
	idp := authtest.NewProvider(t)
	idp.AddRSA(t, "rsa-1")
	idp.AddEC(t, "ec-1")
	stranger := authtest.NewProvider(t)
	stranger.AddRSA(t, "rsa-x")
	hts, b := startJWT(t, idp)
	now := time.Now()
	key := []byte(jwtTestSecret)
	local := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := authtest.Claims("waybill", "waybill", "c1", "customer", now, time.Hour)
		if edit != nil {
			edit(c)
		}
		return c
	}
	external := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := authtest.Claims("https://idp.example", "waybill", "c1", "customer", now, time.Hour)
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.Claims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	get := func(tok string) (*http.Response, map[string]any) {
		return do(t, "GET", hts.URL+"/v1/bills/b-1", "", http.Header{"Authorization": {"Bearer " + tok}})
	}

	for name, tok := range map[string]string{
		"HS256":      sign(jwt.SigningMethodHS256, key, "", local(nil)),
		"RS256 JWKS": idp.Sign(t, "rsa-1", external(nil)),
		"ES256 JWKS": idp.Sign(t, "ec-1", external(nil)),
	} {
		if resp, _ := get(tok); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want the service's 404", name, resp.StatusCode)
		}
		<-b.requestIDs
	}

	hour := int64(time.Hour / time.Second)
	valid := idp.Sign(t, "rsa-1", external(nil))
	tampered := authtest.Tamper(t, valid, external(func(c jwt.MapClaims) { c["role"] = "operator" }))
	bad := map[string]string{
		"expired":                 sign(jwt.SigningMethodHS256, key, "", local(func(c jwt.MapClaims) { c["iat"], c["exp"] = now.Unix()-2*hour, now.Unix()-hour })),
		"not yet valid (nbf)":     sign(jwt.SigningMethodHS256, key, "", local(func(c jwt.MapClaims) { c["nbf"] = now.Unix() + hour })),
		"wrong audience":          sign(jwt.SigningMethodHS256, key, "", local(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"wrong issuer":            sign(jwt.SigningMethodHS256, key, "", local(func(c jwt.MapClaims) { c["iss"] = "evil" })),
		"RS256 wrong issuer":      idp.Sign(t, "rsa-1", local(nil)),
		"alg none":                sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", local(nil)),
		"HS/RS confusion":         sign(jwt.SigningMethodHS256, idp.PublicKeyPEM(t, "rsa-1"), "rsa-1", external(nil)),
		"unknown kid":             stranger.Sign(t, "rsa-x", external(nil)),
		"tampered payload":        tampered,
		"lifetime over maximum":   sign(jwt.SigningMethodHS256, key, "", local(func(c jwt.MapClaims) { c["exp"] = now.Unix() + 48*hour })),
		"forged with a guess":     sign(jwt.SigningMethodHS256, []byte("waybill-local-development-secret"), "", local(nil)),
		"not a JWT":               "not-a-token",
		"ES256 naming an RSA key": sign(jwt.SigningMethodES256, idp.Key("ec-1"), "rsa-1", external(nil)),
	}
	for name, tok := range bad {
		resp, body := get(tok)
		if resp.StatusCode != http.StatusUnauthorized || body["code"] != float64(16) {
			t.Errorf("%s: %d %v, want 401 UNAUTHENTICATED", name, resp.StatusCode, body)
		}
	}
	select {
	case id := <-b.requestIDs:
		t.Errorf("a request with a refused token reached the service (request id %s)", id)
	default:
	}
}
