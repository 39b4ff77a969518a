package grpctest

import (
	"context"
	"testing"
	"time"
)

// ContextTimeout bounds the calls of a test made with Context: long enough for a slow
// machine, short enough that a hung call fails the test rather than the whole run.
const ContextTimeout = 30 * time.Second

// pollInterval is how often Eventually checks its condition.
const pollInterval = 20 * time.Millisecond

// Context returns a context for a test's calls that ends after ContextTimeout or when
// the test (and its cleanups) end. It may be used in cleanups and other goroutines.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), ContextTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds and fails the test when it still does not after
// timeout; what names the condition in the failure ("the saga to end").
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}
