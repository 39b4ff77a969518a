package trip

import "sync"

// Hub tells the watchers of a trip in this process that it changed. A notification
// carries nothing: the watcher reads the trip again, so rapid changes coalesce. Watchers
// on other replicas, and changes committed by a consumer's transaction after the
// notification, are caught by the watchers' periodic re-read.
type Hub struct {
	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{watchers: map[string]map[chan struct{}]struct{}{}} }

// Watch returns a channel that receives (at most one pending) notification for each
// change of trip id, and a function that stops the watch.
func (h *Hub) Watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.watchers[id] == nil {
		h.watchers[id] = map[chan struct{}]struct{}{}
	}
	h.watchers[id][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watchers[id], ch)
		if len(h.watchers[id]) == 0 {
			delete(h.watchers, id)
		}
		h.mu.Unlock()
	}
}

// Notify tells trip id's watchers that it changed.
func (h *Hub) Notify(id string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[id] {
		select {
		case ch <- struct{}{}:
		default: // one pending notification is enough
		}
	}
}
