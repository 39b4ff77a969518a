package farepg

import (
	"sync"
	"time"

	"github.com/waybill/waybill/services/fare/fare"
)

// CardCacheTTL is how long RateCardsInEffect reuses a rate card version it read, by the
// caller's clock. It bounds how long a quote can be priced from a superseded version:
// one written through another fare process (writes through this store clear the cache
// at once), or one replaced by a version whose effective time has come.
const CardCacheTTL = time.Second

// cardCacheMax is the most entries the cache holds before it drops the expired ones
// (and, if all are live, everything).
const cardCacheMax = 10_000

// cardCache holds recent answers of RateCardsInEffect per list of product keys. A read
// that was running while a write cleared the cache does not store its answer (gen).
type cardCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]cardEntry
}

type cardEntry struct {
	card fare.RateCard
	at   time.Time // the caller's now when the card was read
}

// get returns the card cached for keys if it was read at most CardCacheTTL before now,
// and the cache's generation, to pass to put after reading the card from the database.
func (c *cardCache) get(keys string, now time.Time) (fare.RateCard, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[keys]
	if !ok || now.Before(e.at) || now.Sub(e.at) >= CardCacheTTL {
		return fare.RateCard{}, false, c.gen
	}
	return e.card, true, c.gen
}

// put caches card, read at now, for keys, unless the cache was cleared since gen.
func (c *cardCache) put(keys string, card fare.RateCard, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil {
		c.entries = map[string]cardEntry{}
	}
	if len(c.entries) >= cardCacheMax {
		for k, e := range c.entries {
			if now.Sub(e.at) >= CardCacheTTL || now.Before(e.at) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= cardCacheMax {
			clear(c.entries)
		}
	}
	c.entries[keys] = cardEntry{card: card, at: now}
}

// clear drops every entry; reads running meanwhile do not store theirs.
func (c *cardCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}
