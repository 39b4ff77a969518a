package bookingapp_test

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/booking/bookingapp"
)

func TestDefaultConfig(t *testing.T) {
	c := bookingapp.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if want := serve.DefaultAddr("fare"); c.FareAddr != want || want == "" {
		t.Errorf("FareAddr = %q, want fare's address in the mesh %q", c.FareAddr, want)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(c *bookingapp.Config)
		flag string
	}{
		{"no fare", func(c *bookingapp.Config) { c.FareAddr = "" }, "--fare-addr"},
		{"no fare timeout", func(c *bookingapp.Config) { c.FareTimeout = 0 }, "--fare-timeout"},
		{"no search timeout", func(c *bookingapp.Config) { c.SearchQuoteTimeout = -1 }, "--search-quote-timeout"},
		{"negative sweep", func(c *bookingapp.Config) { c.SweepInterval = -1 }, "--sweep-interval"},
		{"no pruning", func(c *bookingapp.Config) { c.PruneInterval = 0 }, "--idempotency-prune-interval"},
	} {
		c := bookingapp.DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tc.name, err, tc.flag)
		}
	}
}

// TestSpecsHaveConfigsOfTheirOwn: each Spec binds its flags to a Config of its own, read
// from the flags and the environment; nothing is shared between specs.
func TestSpecsHaveConfigsOfTheirOwn(t *testing.T) {
	configured, plain := bookingapp.Spec(), bookingapp.Spec()
	fs := flag.NewFlagSet("booking", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configured.Flags(fs)
	env := map[string]string{"WAYBILL_SWEEP_INTERVAL": "-1s"}
	if err := config.Parse(fs, []string{"--fare-addr", "fare.internal:7000"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if got := fs.Lookup("fare-addr").Value.String(); got != "fare.internal:7000" {
		t.Fatalf("--fare-addr = %q", got)
	}
	// The configured spec's Register sees the invalid sweep interval from the environment;
	// the other spec's Config kept the defaults and gets as far as the missing Deps.
	if err := configured.Register(context.Background(), serve.Deps{}); err == nil || !strings.Contains(err.Error(), "--sweep-interval") {
		t.Errorf("configured Register = %v, want the sweep interval refused", err)
	}
	if err := plain.Register(context.Background(), serve.Deps{}); err == nil || strings.Contains(err.Error(), "config") {
		t.Errorf("plain Register = %v, want only the missing Deps refused", err)
	}
}
