package matching

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/ids"
)

// hub tells this process's offer watchers that a driver's offers changed. It carries no
// data: a watcher reads the changes from storage, which also holds the changes other
// replicas made.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan struct{}]struct{}{}} }

// subscribe returns a channel that receives a signal after driver id's offers changed,
// and the function that ends the subscription.
func (h *hub) subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[id] == nil {
		h.subs[id] = map[chan struct{}]struct{}{}
	}
	h.subs[id][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[id], ch)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
		h.mu.Unlock()
	}
}

// watched reports whether any driver is watched.
func (h *hub) watched() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// notify signals every watcher of driver id.
func (h *hub) notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// watchSlack is how far back a watcher rereads changes, beyond its last read: writers'
// clocks and commit order differ a little, and a change seen twice is sent once.
const watchSlack = 5 * time.Second

// RunOfferWatch tells this process's offer watchers of the changes other replicas made:
// every Options.WatchPoll, while anyone watches, one query finds the drivers whose offers
// changed, and their watchers read the changes. (This process's own changes signal the
// watchers at once, after each commit.) It runs until ctx ends.
func (s *Service) RunOfferWatch(ctx context.Context, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(s.opts.WatchPoll)
	defer t.Stop()
	since := s.clock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := s.clock()
		if !s.hub.watched() {
			since = at
			continue
		}
		ids, err := s.store.OfferChanges(ctx, since.Add(-watchSlack))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("look for offer changes", slog.Any("error", err))
			}
			continue
		}
		for _, id := range ids {
			s.hub.notify(id)
		}
		since = at
	}
}

// WatchOffers streams the offers of driver id to send, for the driver themselves,
// operators and services: first the PENDING offer, if any, then every new offer and
// every change of one, and a heartbeat (send(nil)) every Options.Heartbeat while idle,
// until ctx ends or send fails. Changes made in this process arrive at once; those of
// other replicas within Options.WatchPoll (RunOfferWatch).
func (s *Service) WatchOffers(ctx context.Context, c caller.Caller, id string, send func(*Offer) error) error {
	if err := ids.Check("driver_id", id); err != nil {
		return err
	}
	if err := mayActFor(c, id); err != nil {
		return err
	}
	if _, err := s.store.Driver(ctx, id); err != nil {
		return fmt.Errorf("watch driver offers: %w", err)
	}
	changed, stop := s.hub.subscribe(id) // before the first read: no change falls between
	defer stop()
	seen := map[string]int64{}
	start := s.clock()
	since := start
	read := func() (bool, error) {
		at := s.clock()
		// Changes from before the stream began are not sent: only the pending offer.
		from := since.Add(-watchSlack)
		if from.Before(start) {
			from = start
		}
		offers, err := s.store.DriverOffers(ctx, id, from)
		if err != nil {
			return false, fmt.Errorf("watch driver offers: %w", err)
		}
		sent := false
		// An offer this read does not return cannot come back unless it changes (the
		// window only moves forward), so seen keeps only what it returned.
		now := make(map[string]int64, len(offers))
		for _, o := range offers {
			now[o.ID] = o.Version
			if v, ok := seen[o.ID]; ok && v >= o.Version {
				continue
			}
			if err := send(&o); err != nil {
				return sent, err
			}
			sent = true
		}
		seen, since = now, at
		return sent, nil
	}
	if _, err := read(); err != nil {
		return err
	}
	heartbeat := time.NewTimer(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-heartbeat.C:
			if err := send(nil); err != nil {
				return err
			}
			heartbeat.Reset(s.opts.Heartbeat)
			continue
		case <-changed:
		}
		sent, err := read()
		if err != nil {
			return err
		}
		if sent {
			heartbeat.Reset(s.opts.Heartbeat)
		}
	}
}
