package analyticsapp

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/analytics/analytics"
)

// watch follows what a source's stream delivers to its consumer: the highest sequence
// received, whether a heartbeat came after it (the stream is live: everything before it
// has been sent), and when the stream last said anything. Together with the consumer's
// committed cursor it gives the consumer's lag without asking the source.
type watch struct {
	source string
	now    func() time.Time
	mu     sync.Mutex
	head   int64
	live   bool
	last   time.Time
}

func newWatch(source string, now func() time.Time) *watch {
	return &watch{source: source, now: now, last: now()}
}

func (w *watch) saw(m *eventsv1.SubscribeResponse, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = now
	if m.GetHeartbeat() {
		w.live = true
		return
	}
	if s := m.GetEvent().GetSequence(); s > w.head {
		w.head, w.live = s, false
	}
}

func (w *watch) state() (head int64, live bool, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.head, w.live, w.last
}

// lag returns the source's lag at now, with applied the consumer's committed sequence.
func (w *watch) lag(applied int64, now time.Time) analytics.SourceLag {
	head, _, last := w.state()
	return analytics.SourceLag{Source: w.source, Events: max(head-applied, 0), Silent: now.Sub(last)}
}

// client wraps a source's EventStreamServiceClient so that w sees every message its
// streams deliver.
func (w *watch) client(c eventsv1.EventStreamServiceClient) eventsv1.EventStreamServiceClient {
	return watchedClient{EventStreamServiceClient: c, w: w}
}

type watchedClient struct {
	eventsv1.EventStreamServiceClient
	w *watch
}

func (c watchedClient) Subscribe(ctx context.Context, in *eventsv1.SubscribeRequest, opts ...grpc.CallOption) (eventsv1.EventStreamService_SubscribeClient, error) {
	s, err := c.EventStreamServiceClient.Subscribe(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return watchedStream{EventStreamService_SubscribeClient: s, w: c.w}, nil
}

type watchedStream struct {
	eventsv1.EventStreamService_SubscribeClient
	w *watch
}

func (s watchedStream) Recv() (*eventsv1.SubscribeResponse, error) {
	m, err := s.EventStreamService_SubscribeClient.Recv()
	if err == nil {
		s.w.saw(m, s.w.now())
	}
	return m, err
}

// lags returns the lag of every watched source's consumer, reading the committed
// cursors through q.
func lags(q txn.Querier, watches []*watch) analytics.Lags {
	return func(ctx context.Context) ([]analytics.SourceLag, error) {
		out := make([]analytics.SourceLag, 0, len(watches))
		for _, w := range watches {
			pos, err := consumer.Cursor(ctx, q, consumerName(w.source), w.source)
			if err != nil {
				return nil, err
			}
			out = append(out, w.lag(pos.Seq, w.now()))
		}
		return out, nil
	}
}

// caughtUp reports whether the consumer of w's source has applied everything its stream
// sent before going live.
func caughtUp(ctx context.Context, q txn.Querier, w *watch) (bool, error) {
	head, live, _ := w.state()
	if !live {
		return false, nil
	}
	pos, err := consumer.Cursor(ctx, q, consumerName(w.source), w.source)
	if err != nil {
		return false, err
	}
	return pos.Seq >= head, nil
}
