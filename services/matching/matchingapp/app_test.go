package matchingapp_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/matching/matching"
	"github.com/waybill/waybill/services/matching/matchingapp"
)

// TestSpecBindsItsOwnConfig: the flags of a Spec set the Config its Register uses (a
// Config local to Spec, not a package-level variable), and Register validates it.
func TestSpecBindsItsOwnConfig(t *testing.T) {
	if err := matchingapp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig does not validate: %v", err)
	}
	if c := matchingapp.DefaultConfig(); c.StaleAfter != 60*time.Second {
		t.Fatalf("default freshness limit %v, the contract says 60 s", c.StaleAfter)
	}
	parse := func(s serve.Spec, args ...string) {
		t.Helper()
		fs := flag.NewFlagSet("matching", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s.Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"location-stale-after", "location-flush-interval", "location-sweep-interval", "idempotency-prune-interval"} {
		bad := matchingapp.Spec()
		parse(bad, "--"+f+"=0s")
		// Register validates its Config before it touches Deps.
		err := bad.Register(t.Context(), serve.Deps{})
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Fatalf("Register with --%s=0s = %v, want a validation error naming the flag", f, err)
		}
	}
	good := matchingapp.Spec()
	if good.Name != "matching" || good.Migrations == nil || len(good.EventTypes) != len(matching.EventTypes) {
		t.Fatalf("spec %+v lacks its name, migrations or event types", good)
	}
}
