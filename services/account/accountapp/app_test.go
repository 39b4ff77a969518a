package accountapp_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/account"
	"github.com/waybill/waybill/services/account/accountapp"
)

// TestSpecBindsItsOwnConfig: the flags of a Spec set the Config its Register uses (a
// Config local to Spec, not a package-level variable), and Register validates it before
// it touches Deps.
func TestSpecBindsItsOwnConfig(t *testing.T) {
	if err := accountapp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig does not validate: %v", err)
	}
	parse := func(s serve.Spec, args ...string) {
		t.Helper()
		fs := flag.NewFlagSet("account", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s.Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []struct{ flag, value string }{
		{"code-secret", "short"}, {"code-ttl", "0s"}, {"code-max-attempts", "0"},
		{"code-resend-interval", "-1s"}, {"code-max-per-hour", "0"}, {"idempotency-prune-interval", "0s"},
	} {
		s := accountapp.Spec()
		parse(s, "--"+bad.flag+"="+bad.value)
		err := s.Register(t.Context(), serve.Deps{})
		if err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Fatalf("Register with --%s=%s = %v, want a validation error naming the flag", bad.flag, bad.value, err)
		}
	}
	good := accountapp.Spec()
	if good.Name != "account" || good.Migrations == nil || len(good.EventTypes) != len(account.EventTypes) {
		t.Fatalf("spec %+v lacks its name, migrations or event types", good)
	}
	if p, ok := serve.DefaultPorts("account"); !ok || p.GRPC != 7007 || p.HTTP != 9007 {
		t.Fatalf("account's ports = %+v, %v; want 7007/9007", p, ok)
	}
}
