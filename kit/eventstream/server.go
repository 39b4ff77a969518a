package eventstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

// Defaults of ServerOptions.
const (
	// DefaultHeartbeat is how long a stream stays silent before a heartbeat.
	DefaultHeartbeat = 5 * time.Second
	// DefaultBuffer is how many events may wait for a live subscriber.
	DefaultBuffer = 8192
	// DefaultPageSize is how many events a catch-up read takes from the pool.
	DefaultPageSize = 500
	// DefaultMaxStreams is how many Subscribe streams a server serves at once. Each holds
	// a buffer of up to Buffer events and two goroutines.
	DefaultMaxStreams = 256
	// DefaultMaxStreamsPerCaller is how many Subscribe streams one caller (a token's
	// subject) may hold at once: a consuming service opens one per consumer and replica.
	DefaultMaxStreamsPerCaller = 32
)

// ServerOptions configures the server NewServer returns. The zero value uses the
// defaults.
type ServerOptions struct {
	// Heartbeat is how long a stream may stay silent before the server sends a
	// heartbeat (DefaultHeartbeat).
	Heartbeat time.Duration
	// Buffer is how many events may wait for a live subscriber before it is
	// disconnected as too slow (DefaultBuffer). The reader hands out a page of the log
	// (ReaderOptions.PageSize) or a sequencer batch (outbox.Options.BatchSize) at once,
	// so Buffer should be a few times the larger.
	Buffer int
	// PageSize is how many events one catch-up read takes from the pool
	// (DefaultPageSize).
	PageSize int
	// Draining, when closed, ends every stream with UNAVAILABLE so clients resubscribe
	// elsewhere; pass grpcserver.Server.Draining(). Nil never closes.
	Draining <-chan struct{}
	// Logger receives notable stream ends (slow subscribers); nil discards them.
	Logger *slog.Logger
	// MaxStreams is how many Subscribe streams the server serves at once
	// (DefaultMaxStreams); one more is refused with RESOURCE_EXHAUSTED.
	MaxStreams int
	// MaxStreamsPerCaller is how many Subscribe streams one caller may hold at once
	// (DefaultMaxStreamsPerCaller); one more is refused with RESOURCE_EXHAUSTED.
	MaxStreamsPerCaller int
}

// server implements eventsv1.EventStreamServiceServer.
type server struct {
	eventsv1.UnimplementedEventStreamServiceServer

	service string
	known   map[string]bool
	reader  *Reader
	opts    ServerOptions
	log     *slog.Logger
}

// NewServer returns the EventStreamService of service, serving the log that reader
// tails, to services and operators only (see Server). knownTypes lists the event types
// the service emits: a subscription filtering on any other fails with INVALID_ARGUMENT.
// Register the result with eventsv1.RegisterEventStreamServiceServer.
func NewServer(service string, knownTypes []string, reader *Reader, opts ServerOptions) *Server {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	if opts.MaxStreamsPerCaller <= 0 {
		opts.MaxStreamsPerCaller = DefaultMaxStreamsPerCaller
	}
	known := make(map[string]bool, len(knownTypes))
	for _, t := range knownTypes {
		known[t] = true
	}
	local := &server{service: service, known: known, reader: reader, opts: opts, log: logger}
	return &Server{local: local, streams: newStreamLimits(opts.MaxStreams, opts.MaxStreamsPerCaller)}
}

// request is a validated SubscribeRequest.
type request struct {
	after     int64
	hasCursor bool
	types     map[string]bool // nil: every type
	keysOnly  bool
}

// parse validates req, naming every bad field.
func (s *server) parse(req *eventsv1.SubscribeRequest) (request, error) {
	var (
		r   request
		bad []*errdetails.BadRequest_FieldViolation
	)
	violation := func(field, desc string) {
		bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
	}
	if req.GetService() != "" && req.GetService() != s.service {
		violation("service", fmt.Sprintf("this server serves the events of %q, not %q", s.service, req.GetService()))
	}
	if c := req.GetAfterCursor(); c != "" {
		seq, err := DecodeCursor(c)
		if err != nil {
			violation("after_cursor", err.Error())
		}
		r.after, r.hasCursor = seq, true
	}
	if len(req.GetTypes()) > 0 {
		r.types = make(map[string]bool, len(req.GetTypes()))
		var unknown []string
		for _, t := range req.GetTypes() {
			if !s.known[t] {
				unknown = append(unknown, fmt.Sprintf("%q", t))
			}
			r.types[t] = true
		}
		if len(unknown) > 0 {
			violation("types", fmt.Sprintf("unknown event types %s; %s emits %s",
				strings.Join(unknown, ", "), s.service, s.knownList()))
		}
	}
	switch req.GetPayloadMode() {
	case eventsv1.PayloadMode_PAYLOAD_MODE_UNSPECIFIED, eventsv1.PayloadMode_PAYLOAD_MODE_FULL:
	case eventsv1.PayloadMode_PAYLOAD_MODE_KEYS_ONLY:
		r.keysOnly = true
	default:
		violation("payload_mode", fmt.Sprintf("unknown payload mode %d", req.GetPayloadMode()))
	}
	if len(bad) == 0 {
		return r, nil
	}
	st := status.New(codes.InvalidArgument, "invalid subscription: "+bad[0].Description)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: bad}); err == nil {
		st = d
	}
	return r, st.Err()
}

func (s *server) knownList() string {
	if len(s.known) == 0 {
		return "no events"
	}
	types := make([]string, 0, len(s.known))
	for t := range s.known {
		types = append(types, t)
	}
	slices.Sort(types)
	return strings.Join(types, ", ")
}

var errDraining = status.Error(codes.Unavailable, "server shutting down; resubscribe")

// Subscribe streams the log after the request's cursor, then follows it live.
func (s *server) Subscribe(req *eventsv1.SubscribeRequest, stream grpc.ServerStreamingServer[eventsv1.SubscribeResponse]) error {
	r, err := s.parse(req)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	select {
	case <-s.reader.ready:
	case <-s.reader.stopped:
		return errReaderStopped
	case <-s.opts.Draining:
		return errDraining
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}

	// The stream is sent to by a goroutine of its own, so that the handler can end the
	// stream even while a send is blocked on a client that does not read.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := &subscription{server: s, req: r, stream: stream, failed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- sub.run(ctx) }()
	defer func() {
		// The sender may still be blocked in a send; the fan-out must not wait for it.
		if fan := sub.fan.Load(); fan != nil {
			s.reader.unregister(fan)
		}
	}()

	var end error
	select {
	case err := <-done:
		return err
	case <-sub.failed:
		end = sub.fan.Load().err
		if errors.Is(end, errTooSlow) {
			s.log.Info("disconnected a slow subscriber", slog.Int("buffer", s.opts.Buffer))
		}
	case <-s.opts.Draining:
		end = errDraining
	case <-ctx.Done():
		end = status.FromContextError(ctx.Err()).Err()
	}
	cancel()
	// Let the sender finish a send in progress; it is abandoned if the client does not
	// read (gRPC unblocks it when the stream ends).
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	return end
}

// subscription is one Subscribe call's state, owned by its sending goroutine except
// where noted.
type subscription struct {
	server *server
	req    request
	stream grpc.ServerStreamingServer[eventsv1.SubscribeResponse]

	pos     int64                      // the last event sent or skipped
	started bool                       // an event was read, so pos is a real position
	fan     atomic.Pointer[subscriber] // set once the subscription joins the fan-out
	failed  chan struct{}              // closed when fan has failed; read by the handler
	timer   *time.Timer
}

// run sends the subscription's events: the log from the cursor, page by page from the
// pool, then the reader's fan-out.
func (sub *subscription) run(ctx context.Context) error {
	s := sub.server
	last, prunedThrough, err := s.reader.tables.head(ctx, s.reader.pool)
	if err != nil {
		return sub.dbError(ctx, err)
	}
	switch {
	case !sub.req.hasCursor:
		sub.pos = prunedThrough
	case sub.req.after < prunedThrough:
		return errOutOfRange
	case sub.req.after > last:
		return status.Error(codes.OutOfRange, "cursor ahead of the event log; resynchronize")
	default:
		sub.pos, sub.started = sub.req.after, true
	}

	// Catch up without a buffer, until a page comes back short.
	for {
		n, err := sub.catchUp(ctx)
		if err != nil {
			return err
		}
		if n < s.opts.PageSize {
			break
		}
	}
	// Join the fan-out, then read what the reader handed out before we joined.
	fan, tail, err := s.reader.register(s.opts.Buffer)
	if err != nil {
		return err
	}
	defer s.reader.unregister(fan)
	sub.fan.Store(fan)
	go func() {
		select {
		case <-fan.failed:
			close(sub.failed)
		case <-ctx.Done():
		}
	}()
	for sub.pos < tail {
		n, err := sub.catchUp(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if err := sub.heartbeat(); err != nil {
		return err
	}
	sub.timer = time.NewTimer(s.opts.Heartbeat)
	defer sub.timer.Stop()
	for {
		select {
		case rec := <-fan.ch:
			if rec.seq <= sub.pos {
				continue // already read from the pool
			}
			if err := sub.deliver(rec); err != nil {
				return err
			}
		case <-sub.timer.C:
			if err := sub.heartbeat(); err != nil {
				return err
			}
		case <-fan.failed:
			return fan.err
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// catchUp sends one page of the log after pos and returns its length.
func (sub *subscription) catchUp(ctx context.Context) (int, error) {
	s := sub.server
	recs, err := s.reader.tables.page(ctx, s.reader.pool, sub.pos, s.opts.PageSize)
	if err != nil {
		return 0, sub.dbError(ctx, err)
	}
	for _, rec := range recs {
		if err := sub.deliver(rec); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// deliver sends rec if the filter wants it, and moves pos past it. Events must follow
// pos without a gap: the log has none above pruned_through, so a gap means retention
// deleted events this subscription had not read.
func (sub *subscription) deliver(rec *record) error {
	if rec.seq != sub.pos+1 && sub.started {
		return errOutOfRange
	}
	sub.pos, sub.started = rec.seq, true
	if sub.req.types != nil && !sub.req.types[rec.typ] {
		return nil
	}
	return sub.send(&eventsv1.SubscribeResponse{
		Event:  rec.event(sub.server.service, sub.req.keysOnly),
		Cursor: EncodeCursor(rec.seq),
	})
}

// heartbeat tells the client the stream is alive and where it stands.
func (sub *subscription) heartbeat() error {
	return sub.send(&eventsv1.SubscribeResponse{Heartbeat: true, Cursor: EncodeCursor(sub.pos)})
}

func (sub *subscription) send(msg *eventsv1.SubscribeResponse) error {
	if err := sub.stream.Send(msg); err != nil {
		return err
	}
	if sub.timer != nil {
		sub.timer.Reset(sub.server.opts.Heartbeat)
	}
	return nil
}

// dbError turns a failed read into the stream's status: the client resubscribes later.
func (sub *subscription) dbError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	sub.server.log.Error("subscribe: read event log", slog.Any("error", err))
	return status.Error(codes.Unavailable, "event log unavailable; resubscribe later")
}
