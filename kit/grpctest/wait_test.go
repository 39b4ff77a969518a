package grpctest_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/grpctest"
)

func TestEventually(t *testing.T) {
	var n atomic.Int32
	wantPass(t, "a condition that comes true", func(tb testing.TB) {
		grpctest.Eventually(tb, 5*time.Second, "three polls", func() bool { return n.Add(1) >= 3 })
	})
	start := time.Now()
	failed, msg := outcome(func(tb testing.TB) {
		grpctest.Eventually(tb, 100*time.Millisecond, "never", func() bool { return false })
	})
	if !failed {
		t.Fatal("Eventually passed on a condition that never holds")
	}
	if waited := time.Since(start); waited < 100*time.Millisecond || waited > 5*time.Second {
		t.Errorf("Eventually gave up after %v, want about its timeout of 100ms", waited)
	}
	if want := "timed out after 100ms waiting for never"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}

func TestContext(t *testing.T) {
	var ctxErr func() error
	t.Run("test", func(t *testing.T) {
		ctx := grpctest.Context(t)
		deadline, ok := ctx.Deadline()
		if !ok || time.Until(deadline) > grpctest.ContextTimeout || time.Until(deadline) < grpctest.ContextTimeout-time.Minute {
			t.Errorf("deadline %v (%v), want in about %v", deadline, ok, grpctest.ContextTimeout)
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		ctxErr = ctx.Err
	})
	if ctxErr() == nil {
		t.Error("the context outlived its test")
	}
}
