package providerclient

import (
	"errors"
	"sync"
	"time"
)

// ErrCircuitOpen is returned without calling a provider whose circuit breaker is open.
var ErrCircuitOpen = errors.New("provider circuit open: it failed recently; retrying later")

// BreakerOptions tunes the circuit breakers.
type BreakerOptions struct {
	// Failures is how many consecutive failed calls open the circuit (default 3).
	Failures int
	// Cooldown is how long an open circuit fails fast before one probe call may try the
	// provider again (default 2 s).
	Cooldown time.Duration
}

// breaker is one provider's circuit breaker. Closed: calls go through and consecutive
// failures are counted. Open: calls fail fast until the cooldown has passed. Half-open:
// one probe goes through; its success closes the circuit, its failure opens it again.
type breaker struct {
	opts BreakerOptions
	now  func() time.Time

	mu       sync.Mutex
	failures int
	openTill time.Time
	probing  bool
}

func newBreaker(opts BreakerOptions, now func() time.Time) *breaker {
	if opts.Failures <= 0 {
		opts.Failures = 3
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = 2 * time.Second
	}
	return &breaker{opts: opts, now: now}
}

// allow reports whether a call may go out; probe says it is the half-open probe, which
// must be reported with done.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.opts.Failures {
		return true, false
	}
	if b.probing || b.now().Before(b.openTill) {
		return false, false
	}
	b.probing = true
	return true, true
}

// done records a call's outcome.
func (b *breaker) done(probe, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if !failed {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.opts.Failures {
		b.openTill = b.now().Add(b.opts.Cooldown)
	}
}

// release ends a call that says nothing about the provider's health (the caller gave
// up): a probe may be sent again, and the failure count stays as it was.
func (b *breaker) release(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// open reports whether the circuit currently fails fast.
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures >= b.opts.Failures
}
