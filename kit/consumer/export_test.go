package consumer

import "time"

// Delays returns the first n delays of b's backoff policy, unspread.
func Delays(b Backoff, n int) []time.Duration {
	e := b.exponential(0)
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = e.NextBackOff()
	}
	return d
}

// SpreadDelays returns the first n delays of b's backoff policy as Run's reconnections
// spread them.
func SpreadDelays(b Backoff, n int) []time.Duration {
	e := b.exponential(spread)
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = e.NextBackOff()
	}
	return d
}
