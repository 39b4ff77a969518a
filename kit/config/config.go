// Package config reads a command's configuration from flags and the environment: a flag
// given on the command line wins; otherwise the variable WAYBILL_<NAME> (the flag's name
// in upper case with dashes as underscores), then <NAME> alone (so the conventional
// DATABASE_URL works), then the flag's default. Attrs renders the result for the log with
// secrets masked.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// EnvName returns the prefixed environment variable that configures the named flag.
func EnvName(flagName string) string {
	return "WAYBILL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs and fills the flags not given on the command line from the
// environment read through getenv.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		for _, env := range []string{EnvName(f.Name), strings.TrimPrefix(EnvName(f.Name), "WAYBILL_")} {
			if v := getenv(env); v != "" {
				if e := f.Value.Set(v); e != nil {
					err = fmt.Errorf("%s=%q: %w", env, v, e)
				}
				return
			}
		}
	})
	return err
}

// Attrs returns every flag's effective value as log attributes. Values of flags whose
// name suggests a secret are hidden, and passwords inside URLs are masked.
func Attrs(fs *flag.FlagSet) []any {
	var attrs []any
	fs.VisitAll(func(f *flag.Flag) {
		attrs = append(attrs, slog.String(f.Name, Mask(f.Name, f.Value.String())))
	})
	return attrs
}

// Mask hides a configuration value that may be secret.
func Mask(name, value string) string {
	lower := strings.ToLower(name)
	for _, s := range []string{"password", "secret", "token", "key"} {
		if strings.Contains(lower, s) && value != "" {
			return "****"
		}
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "****")
			return u.String()
		}
	}
	return value
}
