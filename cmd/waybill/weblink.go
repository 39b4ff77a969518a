package main

import (
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/auth"
)

// signInLinkTTL is how long the tokens of `waybill up`'s sign-in links are valid.
const signInLinkTTL = 12 * time.Hour

// signInLink returns the address of the gateway's pages with a fresh token for id in the
// fragment (`http://GATEWAY/app/#token=…`): opening it signs id in (an operator lands on
// the operator panel). The fragment never reaches the server, and the page removes it
// from the address bar. For local runs only: the token is signed with the mesh's secret.
func signInLink(gateway, secret string, id auth.Identity) (string, error) {
	opts := issueOptions()
	opts.Secret = secret
	signer, err := auth.New(opts)
	if err != nil {
		return "", err
	}
	tok, err := signer.Sign(id, signInLinkTTL)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("http://%s/app/#token=%s", gateway, tok), nil
}
