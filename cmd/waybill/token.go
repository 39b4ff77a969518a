package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/serve"
)

// token prints a signed bearer token (an HS256 JWT), for calling the services by hand:
//
//	curl -H "Authorization: Bearer $(waybill token --subject c1 --role customer)" ...
//
// It reads the same --auth-secret, --auth-issuer, --auth-audience and
// --auth-max-lifetime (or WAYBILL_AUTH_*) as the services, so its tokens verify there.
func token(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	subject := fs.String("subject", "", "who the token is for: a customer id, driver id, operator or service name")
	role := fs.String("role", "customer", "customer, driver, operator or service")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid (at most --auth-max-lifetime)")
	opts := issueOptions()
	opts.IssueFlags(fs)
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	signer, err := auth.New(opts)
	if err != nil {
		return err
	}
	tok, err := signer.Sign(auth.Identity{Subject: *subject, Role: auth.Role(*role)}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// issueOptions returns the token options of the local mesh: the default issuer,
// audience and lifetime, and the development secret.
func issueOptions() auth.Options {
	o := auth.DefaultOptions()
	o.Secret = serve.DevAuthSecret
	return o
}
