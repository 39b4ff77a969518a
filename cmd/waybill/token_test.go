package main

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waybill/waybill/kit/auth"
)

func TestWithOperatorToken(t *testing.T) {
	env := map[string]string{"WAYBILL_AUTH_SECRET": "a-secret-of-sixteen-bytes"}
	args, err := withOperatorToken([]string{"list", "--addr", "x:1"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 5 || args[0] != "list" || args[1] != "--token" || args[3] != "--addr" {
		t.Fatalf("args = %q", args)
	}
	signer, _ := auth.NewSigner(env["WAYBILL_AUTH_SECRET"])
	id, err := signer.Verify(args[2])
	if err != nil || id.Role != auth.RoleOperator {
		t.Errorf("token %q: %+v %v", args[2], id, err)
	}
	given := []string{"list", "--token=mine", "--addr", "x:1"}
	if got, _ := withOperatorToken(given, func(string) string { return "" }); len(got) != len(given) {
		t.Errorf("a given token was replaced: %q", got)
	}
}

// TestTokenMintsJWT: `waybill token` prints an HS256 JWT with the standard claims, taking
// issuer and audience from the same flags and environment as the services, so the
// services' verifier accepts it.
func TestTokenMintsJWT(t *testing.T) {
	env := map[string]string{"WAYBILL_AUTH_SECRET": "a-secret-of-sixteen-bytes", "WAYBILL_AUTH_AUDIENCE": "waybill-eu"}
	getenv := func(k string) string { return env[k] }
	var out strings.Builder
	if err := token(t.Context(), []string{"--subject", "d7", "--role", "driver", "--ttl", "2h", "--auth-issuer", "ops-cli"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	var c jwt.RegisteredClaims
	parsed, err := jwt.NewParser().ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(env["WAYBILL_AUTH_SECRET"]), nil })
	if err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	if parsed.Method.Alg() != "HS256" || c.Issuer != "ops-cli" || len(c.Audience) != 1 || c.Audience[0] != "waybill-eu" ||
		c.Subject != "d7" || c.ExpiresAt.Sub(c.IssuedAt.Time) != 2*time.Hour || c.NotBefore == nil {
		t.Errorf("alg %s, claims %+v", parsed.Method.Alg(), c)
	}

	o := auth.DefaultOptions()
	o.Secret, o.Issuer, o.Audience = env["WAYBILL_AUTH_SECRET"], "ops-cli", "waybill-eu"
	verifier, err := auth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := verifier.Verify(tok); err != nil || id != (auth.Identity{Subject: "d7", Role: auth.RoleDriver}) {
		t.Errorf("Verify = %+v, %v", id, err)
	}
	def, err := auth.NewSigner(env["WAYBILL_AUTH_SECRET"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := def.Verify(tok); err == nil {
		t.Error("a verifier expecting issuer and audience \"waybill\" accepted the token")
	}

	for _, args := range [][]string{
		{"--subject", "d7", "--role", "king"},
		{"--role", "driver"},
		{"--subject", "d7", "--ttl", "48h"}, // over the 24 h maximum lifetime
	} {
		if err := token(t.Context(), args, getenv, &out); err == nil {
			t.Errorf("token %q: no error", args)
		}
	}
	if err := token(t.Context(), []string{"--subject", "d7", "--ttl", "48h", "--auth-max-lifetime", "72h"}, getenv, &out); err != nil {
		t.Errorf("48h with --auth-max-lifetime 72h: %v", err)
	}
}
