package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/serve"
)

// token prints a signed bearer token, for calling the services by hand:
//
//	curl -H "Authorization: Bearer $(waybill token --subject c1 --role customer)" ...
func token(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waybill token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	subject := fs.String("subject", "", "who the token is for: a customer id, driver id, operator or service name")
	role := fs.String("role", "customer", "customer, driver, operator or service")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	secret := fs.String("auth-secret", serve.DevAuthSecret, "the secret the services share")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	signer, err := auth.NewSigner(*secret)
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

// parked runs `waybill parked`, calling as an operator (see withOperatorToken).
func parked(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, err := withOperatorToken(args, getenv)
	if err != nil {
		return err
	}
	return consumer.AdminCommand(ctx, args, stdout)
}

// withOperatorToken adds --token with an operator token signed with the shared secret
// (WAYBILL_AUTH_SECRET, or the development one) to a parked command's arguments, unless
// they carry a token already.
func withOperatorToken(args []string, getenv func(string) string) ([]string, error) {
	if len(args) == 0 || slices.ContainsFunc(args, func(a string) bool { return a == "--token" || strings.HasPrefix(a, "--token=") }) {
		return args, nil
	}
	secret := getenv(config.EnvName("auth-secret"))
	if secret == "" {
		secret = serve.DevAuthSecret
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return nil, err
	}
	tok, err := signer.Sign(auth.Identity{Subject: "waybill-cli", Role: auth.RoleOperator}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	return append([]string{args[0], "--token", tok}, args[1:]...), nil
}
