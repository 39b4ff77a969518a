// Package providerclient is billing's outbound adapter to the reservation providers
// (booking, trip and any kind added later): which provider owns each kind, from
// configuration only; batched GetReservationDetails calls behind a circuit breaker per
// provider; and the feeds that apply each provider's event stream to billing's read
// model, with each provider's freshness.
package providerclient

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/services/billing/billing"
)

// Config says which provider owns each kind of reservation and where each provider is.
type Config struct {
	// Kinds maps each kind to its provider's name.
	Kinds map[billing.Kind]string
	// Addrs maps each provider's name to its gRPC address ("host:port").
	Addrs map[string]string
}

// ParseConfig reads the providers' configuration: comma-separated entries
// "kind=provider@host:port", one per kind, for example
//
//	flight=booking@127.0.0.1:7001,ride=trip@127.0.0.1:7003
//
// A kind is the lower-case name of a waybill.reservation.v1.Kind value without its
// "KIND_" prefix ("flight", "stay"), or its number, so that a kind added to the contract
// later works before billing's generated code knows its name. A provider serves several
// kinds at one address. An empty spec configures no provider.
func ParseConfig(spec string) (Config, error) {
	cfg := Config{Kinds: map[billing.Kind]string{}, Addrs: map[string]string{}}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		kindName, rest, ok := strings.Cut(entry, "=")
		name, addr, ok2 := strings.Cut(rest, "@")
		if !ok || !ok2 || name == "" || addr == "" {
			return Config{}, fmt.Errorf("provider entry %q: want kind=provider@host:port", entry)
		}
		kind, err := ParseKind(kindName)
		if err != nil {
			return Config{}, fmt.Errorf("provider entry %q: %w", entry, err)
		}
		if have, dup := cfg.Kinds[kind]; dup {
			return Config{}, fmt.Errorf("provider entry %q: kind %s is already served by %s", entry, kindName, have)
		}
		if have, ok := cfg.Addrs[name]; ok && have != addr {
			return Config{}, fmt.Errorf("provider entry %q: provider %s is already at %s", entry, name, have)
		}
		cfg.Kinds[kind] = name
		cfg.Addrs[name] = addr
	}
	return cfg, nil
}

// ParseKind returns the kind named s: a waybill.reservation.v1.Kind name without its
// prefix, in any case ("flight"), the full enum name ("KIND_FLIGHT"), or a positive
// number.
func ParseKind(s string) (billing.Kind, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("kind %q: must be positive", s)
		}
		return billing.Kind(n), nil
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "KIND_") {
		up = "KIND_" + up
	}
	v, ok := reservationv1.Kind_value[up]
	if !ok || v == 0 {
		return 0, fmt.Errorf("unknown kind %q (use its number for a kind newer than this build)", s)
	}
	return billing.Kind(v), nil
}

// KindName returns the configuration name of kind ("flight", or its number).
func KindName(k billing.Kind) string {
	if n, ok := reservationv1.Kind_name[int32(k)]; ok && k != 0 {
		return strings.ToLower(strings.TrimPrefix(n, "KIND_"))
	}
	return strconv.Itoa(int(k))
}

// String returns the configuration in ParseConfig's form, kinds in order.
func (c Config) String() string {
	kinds := make([]int, 0, len(c.Kinds))
	for k := range c.Kinds {
		kinds = append(kinds, int(k))
	}
	sort.Ints(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		name := c.Kinds[billing.Kind(k)]
		parts = append(parts, fmt.Sprintf("%s=%s@%s", KindName(billing.Kind(k)), name, c.Addrs[name]))
	}
	return strings.Join(parts, ",")
}

// Names returns the providers' names, sorted.
func (c Config) Names() []string {
	names := make([]string, 0, len(c.Addrs))
	for n := range c.Addrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
