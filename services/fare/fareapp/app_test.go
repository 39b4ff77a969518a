package fareapp_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/fare/fareapp"
)

// TestSpecBindsItsOwnConfig: the flags of a Spec set the Config its Register uses (a
// Config local to Spec, not a package-level variable), and Register validates it.
func TestSpecBindsItsOwnConfig(t *testing.T) {
	if err := fareapp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig does not validate: %v", err)
	}
	parse := func(s serve.Spec, args ...string) {
		t.Helper()
		fs := flag.NewFlagSet("fare", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s.Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
	}
	bad, good := fareapp.Spec(), fareapp.Spec()
	parse(bad, "--idempotency-prune-interval=0s")
	// Register validates its Config before it touches Deps.
	err := bad.Register(t.Context(), serve.Deps{})
	if err == nil || !strings.Contains(err.Error(), "idempotency-prune-interval") {
		t.Fatalf("Register with a zero prune interval = %v, want a validation error naming the flag", err)
	}
	if good.Name != "fare" || good.Migrations == nil || len(good.EventTypes) == 0 {
		t.Fatalf("spec %+v lacks its name, migrations or event types", good)
	}
}
