package tripapp_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/services/trip/tripapp"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := tripapp.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFlags(t *testing.T) {
	c := tripapp.DefaultConfig()
	fs := flag.NewFlagSet("trip", flag.ContinueOnError)
	c.Flags(fs)
	err := fs.Parse([]string{"--matching-addr", "m:1", "--match-max-attempts", "2", "--match-offer-timeout", "7s",
		"--free-cancel-window", "90s", "--account-addr", ""})
	if err != nil {
		t.Fatal(err)
	}
	if c.MatchingAddr != "m:1" || c.Match.MaxAttempts != 2 || c.Match.OfferTimeout != 7*time.Second ||
		c.FreeCancelWindow != 90*time.Second || c.AccountAddr != "" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestValidateRefuses(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(*tripapp.Config)
	}{
		{"no matching", "--matching-addr", func(c *tripapp.Config) { c.MatchingAddr = "" }},
		{"no billing", "--billing-addr", func(c *tripapp.Config) { c.BillingAddr = "" }},
		{"pending shorter than the lease", "--pending-request-timeout", func(c *tripapp.Config) { c.PendingTimeout = c.RequestLease }},
		{"no task poll", "--matching-task-poll", func(c *tripapp.Config) { c.TaskPoll = 0 }},
		{"negative window", "--free-cancel-window", func(c *tripapp.Config) { c.FreeCancelWindow = -time.Second }},
	} {
		cfg := tripapp.DefaultConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
}
