package serve

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/outbox"
)

// newEventLog makes a service's event log: the outbox log, the one reader of this
// process that tails it, and the EventStreamService serving it, registered on srv (for
// services and operators, within limits' stream limits). It returns the log, the
// in-process EventStreamService (eventstream.Server.Local: no caller check, for readers
// that authorize their own callers) and the sequencer and the reader to run once the
// schema is migrated.
func newEventLog(pool *pgxpool.Pool, srv *grpcserver.Server, schema string, types []string, logger *slog.Logger, retention time.Duration, limits eventstream.ServerOptions) (*outbox.Log, eventsv1.EventStreamServiceServer, []func(context.Context) error) {
	log := outbox.New(pool, schema, outbox.Options{Logger: logger, Retention: retention})
	reader := eventstream.NewReader(pool, schema, log, eventstream.ReaderOptions{Logger: logger})
	opts := limits
	opts.Draining, opts.Logger = srv.Draining(), logger
	stream := eventstream.NewServer(schema, types, reader, opts)
	eventsv1.RegisterEventStreamServiceServer(srv.GRPC, stream)
	return log, stream.Local(), []func(context.Context) error{log.Run, reader.Run}
}

// EventLog returns the service's event log and the EventStreamService serving it: the
// runner's, when the spec declares event types, or else (a Register called without the
// runner, as in tests, on a migrated schema) new ones, registered on d.Server, whose
// sequencer and reader run until ctx ends. Either way the process has one reader.
func (d Deps) EventLog(ctx context.Context, schema string, types []string) (*outbox.Log, eventsv1.EventStreamServiceServer) {
	if d.Events != nil {
		return d.Events, d.EventStream
	}
	log, stream, runs := newEventLog(d.Pool, d.Server, schema, types, d.Logger, 0, eventstream.ServerOptions{})
	for _, run := range runs {
		go func() { _ = run(ctx) }()
	}
	return log, stream
}
