package eventstream

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcerr"
)

// ReasonTooManyStreams is the ErrorInfo reason of a Subscribe refused because the caller,
// or the server, holds as many streams as it may.
const ReasonTooManyStreams = "TOO_MANY_STREAMS"

// Server is the EventStreamService of one service, to register on its gRPC server. An
// event log replays every customer's data (travellers' names, bills, payments), so
// Subscribe serves services and operators only: a call without a token is refused with
// UNAUTHENTICATED, customers and drivers with PERMISSION_DENIED (they follow their own
// objects through per-customer watch RPCs such as WatchBills). The check is made here,
// before the request is read, for every service. The caller comes from the context
// (auth.FromContext), where the server's auth interceptor put the verified token's
// identity; calls without a token reach this handler, which decides.
//
// Concurrent streams are bounded per caller (role and subject) and in total
// (ServerOptions.MaxStreamsPerCaller, MaxStreams): one over is refused with
// RESOURCE_EXHAUSTED, reason TOO_MANY_STREAMS, saying which limit was reached.
type Server struct {
	eventsv1.UnimplementedEventStreamServiceServer

	local   *server
	streams *streamLimits
}

// Subscribe streams the log to a service or an operator, within the stream limits.
func (s *Server) Subscribe(req *eventsv1.SubscribeRequest, stream grpc.ServerStreamingServer[eventsv1.SubscribeResponse]) error {
	id, err := s.authorize(stream.Context())
	if err != nil {
		return err
	}
	release, err := s.streams.acquire(id)
	if err != nil {
		return grpcerr.ToStatus(err, grpcerr.Domain(s.local.service))
	}
	defer release()
	return s.local.Subscribe(req, stream)
}

// Local returns the EventStreamService without the caller check and the stream limits,
// for in-process readers that authorize their own callers: billing's WatchBills reads
// its log through it and shows a customer only that customer's bills. Never register it
// on a gRPC server.
func (s *Server) Local() eventsv1.EventStreamServiceServer { return s.local }

// authorize returns the caller when it may subscribe: a service or an operator.
func (s *Server) authorize(ctx context.Context) (auth.Identity, error) {
	id, ok := auth.FromContext(ctx)
	var err error
	switch {
	case !ok:
		err = errs.NoIdentity("subscribing to an event stream needs the bearer token of a service or an operator")
	case !id.Privileged():
		err = errs.Denied("", "event streams are for services and operators; a %s follows their own objects through the watch RPCs (WatchBills, WatchTrip)", id.Role)
	default:
		return id, nil
	}
	return auth.Identity{}, grpcerr.ToStatus(err, grpcerr.Domain(s.local.service))
}

// streamLimits counts the open streams, per caller and in total.
type streamLimits struct {
	max, perCaller int

	mu       sync.Mutex
	total    int
	byCaller map[caller.Caller]int
}

func newStreamLimits(max, perCaller int) *streamLimits {
	return &streamLimits{max: max, perCaller: perCaller, byCaller: map[caller.Caller]int{}}
}

// acquire counts a new stream of id, or refuses it when id or the server is at its
// limit. release gives the stream back; call it once.
func (l *streamLimits) acquire(id auth.Identity) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.byCaller[id]; n >= l.perCaller {
		return nil, errs.Exhausted(ReasonTooManyStreams,
			"%s %q already holds %d event streams, the most one caller may; close one before subscribing again", id.Role, id.Subject, n)
	}
	if l.total >= l.max {
		return nil, errs.Exhausted(ReasonTooManyStreams,
			"this server already serves %d event streams, its limit; retry later or subscribe to another replica", l.total)
	}
	l.total++
	l.byCaller[id]++
	var once sync.Once
	return func() { once.Do(func() { l.release(id) }) }, nil
}

func (l *streamLimits) release(id auth.Identity) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byCaller[id]--; l.byCaller[id] <= 0 {
		delete(l.byCaller, id)
	}
}
