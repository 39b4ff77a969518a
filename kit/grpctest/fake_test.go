package grpctest_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// fakeTB records what a helper reports instead of failing the real test, so the tests
// can show that an assertion fails when it should.
type fakeTB struct {
	testing.TB // nil: a helper calling anything not defined below panics the test
	mu         sync.Mutex
	failed     bool
	msg        string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// outcome runs check against a fakeTB on a goroutine of its own (Fatalf ends it) and
// reports whether it failed, and with what message.
func outcome(check func(tb testing.TB)) (failed bool, msg string) {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed, f.msg
}

// wantPass fails t when check failed.
func wantPass(t *testing.T, name string, check func(tb testing.TB)) {
	t.Helper()
	if failed, msg := outcome(check); failed {
		t.Errorf("%s failed: %s", name, msg)
	}
}

// wantFail fails t unless check failed.
func wantFail(t *testing.T, name string, check func(tb testing.TB)) {
	t.Helper()
	if failed, _ := outcome(check); !failed {
		t.Errorf("%s passed, want it to fail", name)
	}
}
