//go:build !race

package matchinggrpc_test

// slowdown stretches the offer timeouts of timing-sensitive tests under the race
// detector, which makes every call several times slower.
const slowdown = 1
