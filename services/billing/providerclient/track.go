package providerclient

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/services/billing/billing"
)

// tracker follows billing's position in one provider's event stream: the head the
// provider last reported (an event's sequence or a heartbeat's cursor), what billing has
// applied, and when billing was last caught up. An item's summary is FRESH while the
// stream is connected and billing was caught up within StaleAfter.
type tracker struct {
	mu         sync.Mutex
	connected  bool
	headSeq    int64
	appliedSeq int64
	lastRecv   time.Time
	caughtUpAt time.Time
}

// received records a message from the stream at now.
func (t *tracker) received(m *eventsv1.SubscribeResponse, now time.Time) {
	seq := m.GetEvent().GetSequence()
	if m.GetEvent() == nil {
		if s, err := eventstream.DecodeCursor(m.GetCursor()); err == nil {
			seq = s
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.connected = true
	t.lastRecv = now
	t.headSeq = max(t.headSeq, seq)
	if t.appliedSeq >= t.headSeq {
		t.caughtUpAt = now
	}
}

// applied records that the events up to seq have been applied.
func (t *tracker) applied(seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.appliedSeq = max(t.appliedSeq, seq)
	if t.connected && t.appliedSeq >= t.headSeq {
		t.caughtUpAt = t.lastRecv
	}
}

// down records that the stream failed.
func (t *tracker) down() {
	t.mu.Lock()
	t.connected = false
	t.mu.Unlock()
}

// freshness returns the provider's freshness at now.
func (t *tracker) freshness(now time.Time, staleAfter time.Duration) billing.Freshness {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := billing.Freshness{State: billing.FreshnessFresh, AsOf: t.caughtUpAt}
	if !t.connected || t.caughtUpAt.IsZero() || now.Sub(t.caughtUpAt) > staleAfter {
		f.State = billing.FreshnessStale
	}
	return f
}

// trackedClient is an EventStreamServiceClient whose streams report to a tracker.
type trackedClient struct {
	eventsv1.EventStreamServiceClient
	t   *tracker
	now func() time.Time
}

// Subscribe implements eventsv1.EventStreamServiceClient.
func (c trackedClient) Subscribe(ctx context.Context, in *eventsv1.SubscribeRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[eventsv1.SubscribeResponse], error) {
	s, err := c.EventStreamServiceClient.Subscribe(ctx, in, opts...)
	if err != nil {
		c.t.down()
		return nil, err
	}
	return &trackedStream{ServerStreamingClient: s, c: c}, nil
}

type trackedStream struct {
	grpc.ServerStreamingClient[eventsv1.SubscribeResponse]
	c trackedClient
}

// Recv implements grpc.ServerStreamingClient.
func (s *trackedStream) Recv() (*eventsv1.SubscribeResponse, error) {
	m, err := s.ServerStreamingClient.Recv()
	if err != nil {
		s.c.t.down()
		return nil, err
	}
	s.c.t.received(m, s.c.now())
	return m, nil
}
