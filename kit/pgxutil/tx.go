package pgxutil

import (
	"context"
	"math/rand/v2"
	"time"
)

const (
	retryBaseDelay = 5 * time.Millisecond
	retryMaxDelay  = 500 * time.Millisecond
)

// Retry runs fn, which should run one whole transaction, and runs it again while it
// fails with a serialization failure or a deadlock (MapError's Aborted CONFLICT): after
// a random, growing delay, at most maxRetries more times, and not after ctx ends. It
// returns fn's last error as it is. kit/txn's Runner uses it; it is the one retry policy
// of transactions that lost a race.
func Retry(ctx context.Context, maxRetries int, fn func() error) error {
	// Hand-written rather than backoff.Retry (cenkalti/backoff/v5): its ExponentialBackOff
	// jitters a factor either side of the interval and caps the interval, not the delay,
	// so full jitter would be a BackOff of our own with these same lines; non-conflict
	// errors would need wrapping in backoff.Permanent; and when ctx ends it returns the
	// context's cause, not fn's last error, which callers pass to MapError. It would also
	// cost 4 allocations (about 150 ns, measured) on every transaction, retried or not.
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= maxRetries || !retryable(err) {
			return err
		}
		// Full jitter: transactions that collided once do not collide again in step.
		delay := rand.N(min(retryBaseDelay<<attempt, retryMaxDelay)) + time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}
