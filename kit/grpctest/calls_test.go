package grpctest_test

import (
	"maps"
	"testing"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/serve"
)

const (
	unaryCall = "/grpc.testing.TestService/UnaryCall"
	emptyCall = "/grpc.testing.TestService/EmptyCall"
)

// TestCallCounter counts the calls two servers answer and the calls one client makes to
// each of them, by method and target.
func TestCallCounter(t *testing.T) {
	t.Parallel()
	var served, made grpctest.CallCounter
	var d serve.Deps
	a := grpctest.Start(t, echoSpec(&d), grpctest.WithServerOptions(served.ServerOption()))
	b := grpctest.Start(t, echoSpec(&d))
	ctx := grpctest.Context(t)
	for _, s := range []*grpctest.Server{a, a, b} {
		c := testgrpc.NewTestServiceClient(grpctest.Dial(t, s.Addr, auth.Identity{}, made.DialOption()))
		if _, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// EmptyCall is not implemented: a failed call counts too.
	_, err := testgrpc.NewTestServiceClient(a.Conn(auth.Identity{})).EmptyCall(ctx, &testgrpc.Empty{})
	if err == nil {
		t.Fatal("EmptyCall answered")
	}

	if n := served.Count(unaryCall); n != 2 {
		t.Errorf("server a counted %d UnaryCalls, want 2 (b's is not its own)", n)
	}
	if n := made.Count(unaryCall); n != 3 {
		t.Errorf("client counted %d UnaryCalls, want 3", n)
	}
	if got, want := made.Targets(unaryCall), map[string]int{a.Addr: 2, b.Addr: 1}; !maps.Equal(got, want) {
		t.Errorf("client's calls by target %v, want %v", got, want)
	}
	if got, want := served.Take(), map[string]int{unaryCall: 2, emptyCall: 1}; !maps.Equal(got, want) {
		t.Errorf("Take = %v, want %v", got, want)
	}
	if got := served.Take(); len(got) != 0 {
		t.Errorf("Take after Take = %v, want nothing", got)
	}
	made.Reset()
	if n := made.Count(unaryCall); n != 0 {
		t.Errorf("%d calls after Reset", n)
	}
}
