// Package eventstream serves a service's event log (see package outbox) over gRPC: the
// EventStreamService that every emitting service registers. Subscribe replays the log
// after a client's cursor and then follows it live, never skipping or repeating an event.
//
// # Reader and fan-out
//
// One Reader per process and schema tails event_log. The process's own sequencer hands
// it each batch it commits (outbox.Log.OnAppend), so those events are not read back;
// another process's sequencer notifies on outbox.Channel(schema), which the reader
// LISTENs to on one dedicated connection, and a poll interval is the fallback. It reads each new event once and hands it to every
// subscriber's bounded buffer. A subscriber holds no database connection: it catches up
// from its cursor by reading pages from the pool, registers with the reader, reads the
// few events between its position and the reader's tail, then follows the fan-out,
// skipping what it already sent. A subscriber whose buffer overflows (its client reads
// too slowly) is disconnected with RESOURCE_EXHAUSTED; the others are not affected.
//
// # Who may subscribe
//
// An event log replays every customer's data, so the Server that NewServer returns
// serves services and operators only: no token is UNAUTHENTICATED, a customer's or a
// driver's PERMISSION_DENIED, checked before the request is read. Concurrent streams are
// bounded per caller and in total (RESOURCE_EXHAUSTED, reason TOO_MANY_STREAMS).
// Server.Local is the same service without these checks, for in-process readers that
// authorize their own callers (billing's WatchBills); it is never registered.
//
// # The stream
//
//   - Cursors are opaque strings (EncodeCursor, DecodeCursor); a malformed one fails with
//     INVALID_ARGUMENT naming after_cursor. Empty starts at the beginning of the retained
//     log; a cursor older than retention, or ahead of the log, fails with OUT_OF_RANGE.
//   - The types filter must name known types (INVALID_ARGUMENT naming types), service
//     must be empty or the server's own name (naming service), and payload_mode must be a
//     defined value (naming payload_mode).
//   - PAYLOAD_MODE_KEYS_ONLY omits the payload; every event carries source, trace
//     context, occurred time and sequence.
//   - When the subscription turns live, and whenever nothing was sent for the heartbeat
//     interval (default 5 s), the server sends {heartbeat: true, cursor}. The cursor
//     covers events the type filter skipped, so a filtered consumer's position advances.
//   - When ServerOptions.Draining closes (grpcserver.Server.Draining), or the reader
//     stops, streams end with UNAVAILABLE: resubscribe elsewhere from your cursor.
//
// # API
//
//	func EncodeCursor(seq int64) string
//	func DecodeCursor(cursor string) (int64, error)
//	type ReaderOptions struct{ PollInterval time.Duration; PageSize int; Logger *slog.Logger }
//	func NewReader(pool *pgxpool.Pool, schema string, log *outbox.Log, opts ReaderOptions) *Reader
//	func (r *Reader) Run(ctx context.Context) error
//	type ServerOptions struct{ Heartbeat time.Duration; Buffer, PageSize int; Draining <-chan struct{}; Logger *slog.Logger; MaxStreams, MaxStreamsPerCaller int }
//	func NewServer(service string, knownTypes []string, reader *Reader, opts ServerOptions) *Server
//	func (s *Server) Local() eventsv1.EventStreamServiceServer
//
// Wiring in a service:
//
//	log := outbox.New(pool, "booking", outbox.Options{Logger: logger})
//	reader := eventstream.NewReader(pool, "booking", log, eventstream.ReaderOptions{Logger: logger})
//	go log.Run(ctx)
//	go reader.Run(ctx)
//	eventsv1.RegisterEventStreamServiceServer(srv.GRPC, eventstream.NewServer("booking", bookingTypes, reader,
//		eventstream.ServerOptions{Draining: srv.Draining(), Logger: logger}))
package eventstream
