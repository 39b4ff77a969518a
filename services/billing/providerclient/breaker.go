package providerclient

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
// Allow admits a call and returns the function that reports its error.
type breaker = gobreaker.TwoStepCircuitBreaker[struct{}]

// newBreaker returns a breaker with opts' thresholds. The breaker runs on the wall clock
// (gobreaker takes no clock), unlike Options.Now.
func newBreaker(name string, opts BreakerOptions) *breaker {
	if opts.Failures <= 0 {
		opts.Failures = 3
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = 2 * time.Second
	}
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1, // one probe while half-open
		Timeout:     opts.Cooldown,
		// Interval 0: the closed circuit counts consecutive failures until a success,
		// however far apart they are.
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(opts.Failures) },
		// A call that succeeded, or was refused for its own sake (not found, denied,
		// invalid), shows the provider answering.
		IsSuccessful: func(err error) bool { return err == nil || !isOutage(err) },
		// A call the caller abandoned says nothing about the provider: it neither counts
		// as a failure nor as a success (so it neither opens nor closes the circuit);
		// an abandoned probe only frees the probe's place.
		IsExcluded: func(err error) bool { return status.Code(err) == codes.Canceled },
	})
}

// circuitOpen reports whether b currently fails fast or is waiting for its probe.
func circuitOpen(b *breaker) bool { return b.State() != gobreaker.StateClosed }
