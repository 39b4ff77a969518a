package grpctest

import (
	"context"
	"testing"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
)

// EventSource stands in for a service whose events a test consumes: a real outbox and
// EventStreamService on a fresh database, served from the test's process.
type EventSource struct {
	*Server
	// Log is the source's event log (its sequencer runs).
	Log *outbox.Log
	// Emit runs transactions on the source's database and wakes its sequencer after each
	// commit: emit events with tx.Emit.
	Emit *txn.Runner
}

// StartEventSource starts the stand-in for service name, whose event stream offers the
// event types types.
func StartEventSource(t testing.TB, name string, types []string, opts ...Option) *EventSource {
	t.Helper()
	src := &EventSource{}
	src.Server = Start(t, serve.Spec{Name: name, Migrations: outbox.Migrations, EventTypes: types,
		Register: func(_ context.Context, d serve.Deps) error { src.Log = d.Events; return nil }}, opts...)
	src.Emit = txn.New(src.Pool, txn.Options{Notify: src.Log.Notify})
	return src
}
