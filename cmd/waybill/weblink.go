package main

import (
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/auth"
)

// signInLinkTTL is how long the operator token of `waybill up`'s sign-in link is valid.
const signInLinkTTL = 12 * time.Hour

// signInLink returns the address of the gateway's pages with a fresh operator token in
// the fragment (`http://GATEWAY/app/#token=…`): opening it signs in to the operator
// panel. The fragment never reaches the server, and the page removes it from the address
// bar. For local runs only: the token is signed with the mesh's secret.
func signInLink(gateway, secret string) (string, error) {
	opts := issueOptions()
	opts.Secret = secret
	signer, err := auth.New(opts)
	if err != nil {
		return "", err
	}
	tok, err := signer.Sign(auth.Identity{Subject: "ops-local", Role: auth.RoleOperator}, signInLinkTTL)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("http://%s/app/#token=%s", gateway, tok), nil
}
