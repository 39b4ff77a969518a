package matchinggrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
)

// offerStream is one WatchDriverOffers call, read by a goroutine into a channel.
type offerStream struct {
	msgs chan *matchingv1.WatchDriverOffersResponse
	errc chan error
}

func (h *harness) watch(t testing.TB, c matchingv1.MatchingServiceClient, driverID string) *offerStream {
	t.Helper()
	ctx, cancel := context.WithCancel(grpctest.Context(t))
	t.Cleanup(cancel)
	stream, err := c.WatchDriverOffers(ctx, &matchingv1.WatchDriverOffersRequest{DriverId: driverID})
	if err != nil {
		t.Fatal(err)
	}
	s := &offerStream{msgs: make(chan *matchingv1.WatchDriverOffersResponse, 100), errc: make(chan error, 1)}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				s.errc <- err
				return
			}
			s.msgs <- m
		}
	}()
	return s
}

// offer returns the next offer the stream sends, skipping heartbeats.
func (s *offerStream) offer(t testing.TB) *matchingv1.Offer {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-s.msgs:
			if m.GetHeartbeat() {
				continue
			}
			return m.GetOffer()
		case err := <-s.errc:
			t.Fatalf("WatchDriverOffers: %v", err)
		case <-timeout:
			t.Fatal("no offer within 10s")
		}
	}
}

// heartbeat waits for a heartbeat; an offer meanwhile fails the test.
func (s *offerStream) heartbeat(t testing.TB) {
	t.Helper()
	select {
	case m := <-s.msgs:
		if !m.GetHeartbeat() || m.GetOffer() != nil {
			t.Fatalf("got %v, want a heartbeat", m)
		}
	case err := <-s.errc:
		t.Fatalf("WatchDriverOffers: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat within 10s")
	}
}

// err waits for the stream's error.
func (s *offerStream) err(t testing.TB) error {
	t.Helper()
	for {
		select {
		case <-s.msgs:
		case err := <-s.errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not end within 10s")
		}
	}
}

func wantOffer(t testing.TB, got *matchingv1.Offer, id string, status matchingv1.OfferStatus) {
	t.Helper()
	if got.GetId() != id || got.GetStatus() != status {
		t.Fatalf("streamed offer %s %v, want %s %v", got.GetId(), got.GetStatus(), id, status)
	}
}

// TestWatchDriverOffers: every stream of a driver (the driver's own, an operator's)
// receives each new offer and each change of one, and heartbeats while idle; a stream
// opened while an offer is pending starts with it; a driver cannot watch another, and an
// unknown driver is NOT_FOUND.
func TestWatchDriverOffers(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	ctx := grpctest.Context(t)
	d := h.driverAt(t, north(berlin, 100))
	self, ops := h.watch(t, h.as(d.GetId()), d.GetId()), h.watch(t, h.operator, d.GetId())
	self.heartbeat(t) // the stream is open
	ops.heartbeat(t)

	m := h.createMatch(t, matchReq(10*time.Second))
	o := h.waitOffer(t, m.GetId(), d.GetId())
	for _, s := range []*offerStream{self, ops} {
		got := s.offer(t)
		wantOffer(t, got, o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_PENDING)
		if got.GetMatchId() != m.GetId() || got.GetPickup().GetLatitude() != berlin.GetLatitude() || got.GetProduct() != "standard" {
			t.Fatalf("streamed %v", got)
		}
	}
	if _, err := h.as(d.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o.GetId()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*offerStream{self, ops} {
		wantOffer(t, s.offer(t), o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_DECLINED)
	}

	// A new stream while an offer is pending starts with it; the expiry follows.
	m = h.createMatch(t, matchReq(slowdown*2*time.Second))
	o = h.waitOffer(t, m.GetId(), d.GetId())
	late := h.watch(t, h.as(d.GetId()), d.GetId())
	wantOffer(t, late.offer(t), o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_PENDING)
	wantOffer(t, late.offer(t), o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_EXPIRED)
	wantOffer(t, self.offer(t), o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_PENDING)
	wantOffer(t, self.offer(t), o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_EXPIRED)

	grpctest.WantCode(t, h.watch(t, h.as(ids.New()), d.GetId()).err(t), codes.PermissionDenied)
	grpctest.WantCode(t, h.watch(t, h.customer, d.GetId()).err(t), codes.PermissionDenied)
	grpctest.WantCode(t, h.watch(t, h.operator, ids.New()).err(t), codes.NotFound)
	grpctest.WantField(t, h.watch(t, h.operator, "").err(t), "driver_id")
}

// TestWatchSeesOtherReplicas: a driver's stream on one replica receives the changes
// another replica makes (its periodic look for offer changes, not only this process's
// own commits).
func TestWatchSeesOtherReplicas(t *testing.T) {
	t.Parallel()
	h := startMatching(t)
	other := startWith(t, matchConfig(), grpctest.WithPool(h.pool))
	ctx := grpctest.Context(t)
	d := h.driverAt(t, north(berlin, 100))
	s := other.watch(t, other.as(d.GetId()), d.GetId())
	s.heartbeat(t)
	m := h.createMatch(t, matchReq(10*time.Second))
	o := s.offer(t)
	if o.GetMatchId() != m.GetId() || o.GetStatus() != matchingv1.OfferStatus_OFFER_STATUS_PENDING {
		t.Fatalf("streamed %v", o)
	}
	if _, err := h.as(d.GetId()).DeclineOffer(ctx, &matchingv1.DeclineOfferRequest{OfferId: o.GetId()}); err != nil {
		t.Fatal(err)
	}
	wantOffer(t, s.offer(t), o.GetId(), matchingv1.OfferStatus_OFFER_STATUS_DECLINED)
}
