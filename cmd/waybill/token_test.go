package main

import (
	"testing"

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
