package main

import (
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/auth"
)

// TestSignInLink checks that the link `waybill up` prints carries an operator token that
// the mesh's secret verifies, in the fragment of the pages' address.
func TestSignInLink(t *testing.T) {
	const secret = "a-secret-of-the-local-mesh-16+"
	link, err := signInLink("127.0.0.1:8080", secret, auth.Identity{Subject: "ops-local", Role: auth.RoleOperator})
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(link, "http://127.0.0.1:8080/app/#token=")
	if !ok {
		t.Fatalf("link = %q", link)
	}
	opts := issueOptions()
	opts.Secret = secret
	signer, err := auth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	id, err := signer.Verify(tok)
	if err != nil {
		t.Fatalf("the link's token does not verify: %v", err)
	}
	if id.Role != auth.RoleOperator || id.Subject != "ops-local" {
		t.Errorf("the link signs in %+v, want the operator ops-local", id)
	}
	other := issueOptions()
	other.Secret = "another-secret-entirely-16+"
	if s, err := auth.New(other); err != nil {
		t.Fatal(err)
	} else if _, err := s.Verify(tok); err == nil {
		t.Error("the link's token verifies with another secret")
	}
}
