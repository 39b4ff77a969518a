package billing

import (
	"bytes"

	lru "github.com/hashicorp/golang-lru/v2"
)

// A panel polls the same bills again and again, and between two polls few of their
// reservations change. Every change raises the reservation's version, and billing's read
// model follows each provider's versions through its event stream. So billing keeps
// the details a provider last sent, with the version they reflect, and a page serves an
// item's details from that copy when they are of the version billing's summary holds
// and the summary is FRESH (billing is connected to the provider's stream and caught
// up). Only the other items are fetched, still in one call per provider. Details are
// then exactly as current as the summary next to them, which is what freshness
// promises; a provider that is down makes its items STALE at once (its stream breaks),
// so they are fetched, and fail, as before. Measured in docs/benchmarks.md (the panel
// against the fair monolith): the provider hop was the largest part of a page's cost
// that the monolith does not have.

// DefaultDetailsCacheSize is how many reservations' details a billing process keeps
// (per view): about 300 bytes each, so some 30 MB at most.
const DefaultDetailsCacheSize = 100_000

// cacheKey names one reservation's details in one view.
type cacheKey struct {
	provider, id string
	view         View
}

// cachedDetails are a provider's encoded details and the version they reflect.
type cachedDetails struct {
	version int64
	raw     []byte
}

// detailsCache holds providers' details by reservation and view, least recently used
// out first. It is safe for concurrent use.
type detailsCache struct {
	lru *lru.Cache[cacheKey, cachedDetails]
}

// newDetailsCache returns a cache of size entries; nil (no cache) when size < 0.
func newDetailsCache(size int) *detailsCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultDetailsCacheSize
	}
	c, err := lru.New[cacheKey, cachedDetails](size)
	if err != nil { // only for a size <= 0
		panic(err)
	}
	return &detailsCache{lru: c}
}

// get returns the details of (provider, id) in view if they reflect version.
func (c *detailsCache) get(provider, id string, view View, version int64) ([]byte, bool) {
	if c == nil || version <= 0 {
		return nil, false
	}
	d, ok := c.lru.Get(cacheKey{provider, id, view})
	if !ok || d.version != version {
		return nil, false
	}
	return d.raw, true
}

// put keeps the found lookups of provider in view (a copy of their bytes, so that the
// reply they came in can be freed); lookups without a version are not kept.
func (c *detailsCache) put(provider string, view View, ls []Lookup) {
	if c == nil {
		return
	}
	for _, l := range ls {
		if l.Status != LookupFound || l.Version <= 0 || l.Raw == nil {
			continue
		}
		c.lru.Add(cacheKey{provider, l.ID, view}, cachedDetails{version: l.Version, raw: bytes.Clone(l.Raw)})
	}
}
