// Package accountapp is the account service's composition root, the one place that
// constructs it: it reads the service's Config, builds the store (accountpg), the domain
// (account) and the transport (accountgrpc), registers them on the server kit/serve
// runs, and starts the background work (the idempotency keys' pruning).
package accountapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/account"
	"github.com/waybill/waybill/services/account/accountgrpc"
	"github.com/waybill/waybill/services/account/accountpg"
)

// Name is the account service's name: its database schema and its default ports' key
// (serve.DefaultPorts).
const Name = "account"

// DevCodeSecret is the verification codes' HMAC key used when none is configured: fine on
// a laptop, never in production (the service logs a warning).
const DevCodeSecret = "waybill-local-development-code-secret"

// Config is the account service's own configuration; kit/serve reads what every service
// shares.
type Config struct {
	// CodeSecret keys the HMAC under which verification codes are stored.
	CodeSecret string
	// CodeTTL is how long a verification code is valid.
	CodeTTL time.Duration
	// MaxAttempts is how many attempts a code allows, wrong or right.
	MaxAttempts int
	// ResendInterval is the shortest time between two codes for one contact.
	ResendInterval time.Duration
	// MaxCodesPerHour is how many codes one contact gets in an hour.
	MaxCodesPerHour int
	// PruneInterval is how often expired idempotency keys (older than 24 hours) are
	// deleted.
	PruneInterval time.Duration

	// Now is the service's clock; nil means time.Now. Tests move it; no flag sets it.
	Now func() time.Time
	// NewCode makes codes; nil means random ones. Tests set it; no flag sets it.
	NewCode func() string
}

// DefaultConfig returns the configuration used when no flag or environment variable sets
// one.
func DefaultConfig() Config {
	return Config{
		CodeSecret:      DevCodeSecret,
		CodeTTL:         account.DefaultCodeTTL,
		MaxAttempts:     account.DefaultMaxAttempts,
		ResendInterval:  account.DefaultResendInterval,
		MaxCodesPerHour: account.DefaultMaxCodesPerHour,
		PruneInterval:   idempotencypg.DefaultPruneInterval,
	}
}

// Flags binds c's fields to flags of fs (and so to WAYBILL_* environment variables, see
// kit/config), with c's values as defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.CodeSecret, "code-secret", c.CodeSecret, "secret key of the HMAC under which verification codes are stored (secret)")
	fs.DurationVar(&c.CodeTTL, "code-ttl", c.CodeTTL, "how long a verification code is valid")
	fs.IntVar(&c.MaxAttempts, "code-max-attempts", c.MaxAttempts, "attempts a verification code allows, wrong or right")
	fs.DurationVar(&c.ResendInterval, "code-resend-interval", c.ResendInterval, "shortest time between two verification codes for one contact")
	fs.IntVar(&c.MaxCodesPerHour, "code-max-per-hour", c.MaxCodesPerHour, "verification codes one contact gets in an hour")
	fs.DurationVar(&c.PruneInterval, "idempotency-prune-interval", c.PruneInterval, "how often expired idempotency keys are deleted")
}

// Validate reports a configuration the service cannot run with.
func (c Config) Validate() error {
	var problems []error
	if len(c.CodeSecret) < 16 {
		problems = append(problems, errors.New("--code-secret must be at least 16 bytes"))
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"--code-ttl", c.CodeTTL}, {"--code-resend-interval", c.ResendInterval}, {"--idempotency-prune-interval", c.PruneInterval}} {
		if d.value <= 0 {
			problems = append(problems, fmt.Errorf("%s must be positive, not %v", d.flag, d.value))
		}
	}
	if c.MaxAttempts < 1 {
		problems = append(problems, fmt.Errorf("--code-max-attempts must be at least 1, not %d", c.MaxAttempts))
	}
	if c.MaxCodesPerHour < 1 {
		problems = append(problems, fmt.Errorf("--code-max-per-hour must be at least 1, not %d", c.MaxCodesPerHour))
	}
	return errors.Join(problems...)
}

// Spec returns the account service for kit/serve (and kit/grpctest): its migrations,
// event types, flags and Register, bound to a Config of its own that starts as
// DefaultConfig.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       Name,
		Migrations: accountpg.Migrations,
		EventTypes: account.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds the account service on d and registers its gRPC services on d.Server.
// d.Pool's search_path must be the account schema, migrated with accountpg.Migrations
// (serve does both; tests start the service with grpctest.Start(t, accountapp.Spec())).
// Events go to the service's event log (serve.Deps.EventLog).
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("account config: %w", err)
	}
	logger := d.Logger
	if c.CodeSecret == DevCodeSecret {
		logger.Warn("using the development verification code secret; set --code-secret (WAYBILL_CODE_SECRET) in production")
	}
	log, _ := d.EventLog(ctx, Name, account.EventTypes)
	keys := idempotencypg.New(idempotencypg.Options{Now: c.Now})
	store := accountpg.New(d.Pool, accountpg.Options{Encode: accountgrpc.EventPayload, Notify: log.Notify, Keys: keys})
	svc, err := account.New(store, account.Options{
		CodeSecret: []byte(c.CodeSecret), CodeTTL: c.CodeTTL, MaxAttempts: c.MaxAttempts,
		ResendInterval: c.ResendInterval, MaxCodesPerHour: c.MaxCodesPerHour, Now: c.Now, NewCode: c.NewCode,
	})
	if err != nil {
		return err
	}
	accountv1.RegisterAccountServiceServer(d.Server.GRPC, accountgrpc.New(svc))
	go func() {
		if d.AwaitMigrations(ctx) {
			keys.PruneEvery(ctx, d.Pool, c.PruneInterval, logger)
		}
	}()
	return nil
}
