package billingapp_test

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/billing/providerclient"
)

// TestMeshProviders: the default providers are the mesh's, at serve's addresses, and
// `waybill up` gets the same kinds at its own addresses.
func TestMeshProviders(t *testing.T) {
	const want = "flight=booking@127.0.0.1:7001,train=booking@127.0.0.1:7001,bus=booking@127.0.0.1:7001," +
		"stay=booking@127.0.0.1:7001,ride=trip@127.0.0.1:7003"
	if got := billingapp.DefaultConfig().Providers; got != want {
		t.Fatalf("default providers = %q, want %q", got, want)
	}
	up := billingapp.MeshProviders(func(svc string) string { return svc + ".local:1" })
	cfg, err := providerclient.ParseConfig(up)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kinds) != 5 || cfg.Addrs["booking"] != "booking.local:1" || cfg.Addrs["trip"] != "trip.local:1" {
		t.Fatalf("MeshProviders = %q", up)
	}
}

func TestValidate(t *testing.T) {
	if err := billingapp.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		flag string
		bad  func(c *billingapp.Config)
	}{
		{"--providers", func(c *billingapp.Config) { c.Providers = "flight=booking" }},
		{"--provider-timeout", func(c *billingapp.Config) { c.DetailsTimeout = 0 }},
		{"--provider-stale-after", func(c *billingapp.Config) { c.StaleAfter = -time.Second }},
		{"--provider-breaker-failures", func(c *billingapp.Config) { c.BreakerFailures = 0 }},
		{"--standing-block", func(c *billingapp.Config) { c.StandingBlock = time.Hour }},
		{"--idempotency-prune-interval", func(c *billingapp.Config) { c.KeyPruneInterval = -time.Hour }},
		{"--provider-details-cache", func(c *billingapp.Config) { c.DetailsCacheSize = -2 }},
	} {
		c := billingapp.DefaultConfig()
		tc.bad(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("Validate() = %v, want an error naming %s", err, tc.flag)
		}
	}
}

// TestSpecsHaveTheirOwnConfig: flags parsed into one Spec's configuration do not leak
// into another's (no package-level configuration).
func TestSpecsHaveTheirOwnConfig(t *testing.T) {
	first, second := billingapp.Spec(), billingapp.Spec()
	fs := flag.NewFlagSet("billing", flag.ContinueOnError)
	first.Flags(fs)
	if err := fs.Parse([]string{"--providers", "flight=nowhere"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Register(context.Background(), serve.Deps{}); err == nil || !strings.Contains(err.Error(), "--providers") {
		t.Fatalf("Register with the parsed flag = %v, want the --providers error", err)
	}
	// The second Spec's configuration is still the default: it gets as far as its Deps.
	if err := second.Register(context.Background(), serve.Deps{}); err == nil || strings.Contains(err.Error(), "--providers") {
		t.Fatalf("Register of another Spec = %v, want only the missing Deps", err)
	}
}
