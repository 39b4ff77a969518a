package paymentapp

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/config"
)

func TestFlagsFillConfig(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("payment", flag.ContinueOnError)
	c.Flags(fs)
	env := map[string]string{"WAYBILL_PAYMENT_REQUEST_HASH_KEY": "k1"}
	if err := config.Parse(fs, []string{"--payment-background-interval=5s"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.RequestHashKey != "k1" || c.BackgroundInterval != 5*time.Second || c.Processor != "simulator" {
		t.Fatalf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := config.Mask("payment-request-hash-key", c.RequestHashKey); got == c.RequestHashKey {
		t.Fatal("the request-hash key would be logged")
	}
}

func TestValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"negative interval": func(c *Config) { c.BackgroundInterval = -time.Second },
		"unknown processor": func(c *Config) { c.Processor = "stripe" },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Each Spec binds its flags to a Config of its own: no state is shared between specs.
func TestSpecsShareNoConfig(t *testing.T) {
	a, b := Spec(), Spec()
	fa := flag.NewFlagSet("a", flag.ContinueOnError)
	fa.SetOutput(io.Discard)
	a.Flags(fa)
	fb := flag.NewFlagSet("b", flag.ContinueOnError)
	b.Flags(fb)
	if err := fa.Parse([]string{"--payment-processor=other"}); err != nil {
		t.Fatal(err)
	}
	if got := fb.Lookup("payment-processor").Value.String(); got != "simulator" {
		t.Fatalf("the second spec's processor is %q", got)
	}
	if a.Name != Name || a.Migrations == nil || len(a.EventTypes) == 0 || a.Register == nil {
		t.Fatalf("spec %+v", a)
	}
}
