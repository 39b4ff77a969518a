package matching

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/quadtree"
)

// Index is the in-memory spatial index of the drivers this process tracks: every driver
// who is not OFFLINE, with their status, products and last fix. Fresh fixes are held in
// a quadtree (github.com/paulmach/orb/quadtree) on longitude and latitude; searches
// rank by great-circle distance. It is safe for concurrent use: searches share a read
// lock, changes take the write lock.
//
// Drivers at exactly the same coordinate share one node of the tree (a spot), so
// hundreds of drivers at one point cost a search one node, not a chain of hundreds (the
// quadtree would nest equal points one level deeper each).
//
// Positions the index accepted are remembered as dirty until TakeDirty hands them to the
// flusher, which persists them in batches.
//
// Each entry also holds the rest of the driver's stored record (name, vehicle, city,
// sub-status, current match and trip, times), so that a search answers from memory. It
// is kept as fresh as status and products: every path that tells the index of a
// driver's change (Apply) gives the whole record.
type Index struct {
	staleAfter time.Duration
	now        func() time.Time

	mu      sync.RWMutex
	tree    *quadtree.Quadtree
	drivers map[string]*entry
	spots   map[orb.Point]*spot
	dirty   []*entry
	inTree  int // entries placed in spots
	// slab is where newEntry takes entries from.
	slab []entry
	// spotSlab is where newSpot takes new spots from; freeSpots are spots taken out of
	// the tree, for newSpot to reuse (a moving driver leaves one spot for another with
	// every fix). Spots live in slabs, like entries: they are never freed, so the
	// spots allocated are as many as the tree ever held at once.
	spotSlab  []spot
	freeSpots []*spot
	// productSets interns the entries' product lists: drivers serving the same
	// products share one slice (most of 100,000 drivers serve one of a few sets).
	productSets map[string][]string

	bufs sync.Pool // *searchBuf
}

// entry is one tracked driver.
type entry struct {
	id       string
	status   Status
	products []string // interned (Index.productSets): shared, never modified
	version  int64    // of status, products and info
	info     details  // the rest of the stored record
	fix      Fix      // valid when located
	located  bool     //
	spot     *spot    // where the entry is in the tree; nil when it is not
	dirty    bool     // fix not handed to the flusher yet
}

// spot is one node of the tree: the entries at one exact coordinate, by id.
type spot struct {
	p        orb.Point // longitude, latitude
	lat, cos float64   // latitude in radians and its cosine
	entries  []*entry  // in inline while there is one (most spots), no allocation of their own
	inline   [1]*entry
}

// spotSlab is how many spots newSpot allocates at once.
const spotSlab = 1024

// Point implements orb.Pointer.
func (s *spot) Point() orb.Point { return s.p }

// IndexOptions configures an Index.
type IndexOptions struct {
	// StaleAfter is how old a fix may be and still be searched; 0 means
	// DefaultStaleAfter.
	StaleAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultStaleAfter is how long a fix stays searchable by default: the contract's
// freshness limit.
const DefaultStaleAfter = 60 * time.Second

// NewIndex returns an empty index.
func NewIndex(o IndexOptions) *Index {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Index{
		staleAfter:  o.StaleAfter,
		now:         o.Now,
		tree:        quadtree.New(orb.Bound{Min: orb.Point{-180, -90}, Max: orb.Point{180, 90}}),
		drivers:     map[string]*entry{},
		spots:       map[orb.Point]*spot{},
		productSets: map[string][]string{},
		bufs:        sync.Pool{New: func() any { return &searchBuf{} }},
	}
}

// fresh reports whether a fix taken at t is still searchable at now.
func (x *Index) fresh(t, now time.Time) bool { return now.Sub(t) < x.staleAfter }

// Apply records what storage says of a driver: status, products, version and the rest
// of the record (t.Driver), unless the index knows a later version, and the stored fix,
// unless the index has a newer one. An OFFLINE driver leaves the tree (the entry stays,
// so that an older version read before the change cannot bring them back).
func (x *Index) Apply(t Tracked) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.drivers[t.ID]
	if e == nil {
		e = x.newEntry()
	}
	if t.Version >= e.version {
		e.status, e.products, e.version = t.Status, x.intern(t.Products), t.Version
		e.info = packDetails(t.ID, t.Driver)
		// The id and the map's key share the packed text (assigning a string key
		// replaces the stored key), so the previous text can go.
		e.id = e.info.field(detailID)
		x.drivers[e.id] = e
	}
	if t.Location != nil && (!e.located || t.Location.Time.After(e.fix.Time)) {
		e.fix, e.located = *t.Location, true
	}
	x.place(e, x.now())
}

// entrySlab is how many entries newEntry allocates at once.
const entrySlab = 1024

// newEntry returns a new entry of version -1 (older than any stored). Entries are
// allocated in slabs, one heap object per entrySlab drivers for the garbage collector
// to find; they are never freed one by one (the index keeps every driver it learned of).
func (x *Index) newEntry() *entry {
	if len(x.slab) == cap(x.slab) {
		x.slab = make([]entry, 0, entrySlab)
	}
	x.slab = x.slab[:len(x.slab)+1]
	e := &x.slab[len(x.slab)-1]
	e.version = -1
	return e
}

// intern returns the shared copy of products; the caller holds the write lock.
func (x *Index) intern(products []string) []string {
	if len(products) == 0 {
		return nil
	}
	key := strings.Join(products, "\x00")
	if ps, ok := x.productSets[key]; ok {
		return ps
	}
	ps := slices.Clip(strings.Split(key, "\x00")) // one allocation for the strings, one for the slice
	x.productSets[key] = ps
	return ps
}

// place puts e in the tree at its fix, or takes it out: an entry is in the tree while
// it is not OFFLINE and its fix is fresh.
func (x *Index) place(e *entry, now time.Time) {
	if e.status == StatusOffline || !e.located || !x.fresh(e.fix.Time, now) {
		x.unplace(e)
		return
	}
	p := orb.Point{e.fix.Point.Lng, e.fix.Point.Lat}
	if e.spot != nil {
		if e.spot.p == p {
			return
		}
		x.unplace(e)
	}
	s := x.spots[p]
	if s == nil {
		s = x.newSpot(p)
		if err := x.tree.Add(s); err != nil {
			x.freeSpot(s)
			return // outside the globe: validation keeps such points out
		}
		x.spots[p] = s
	}
	i, _ := slices.BinarySearchFunc(s.entries, e.id, func(a *entry, id string) int { return cmp.Compare(a.id, id) })
	s.entries = slices.Insert(s.entries, i, e)
	e.spot = s
	x.inTree++
}

// unplace takes e out of the tree.
func (x *Index) unplace(e *entry) {
	s := e.spot
	if s == nil {
		return
	}
	e.spot = nil
	x.inTree--
	if i := slices.Index(s.entries, e); i >= 0 {
		s.entries = slices.Delete(s.entries, i, i+1)
	}
	if len(s.entries) == 0 {
		x.tree.Remove(s, func(p orb.Pointer) bool { return p == orb.Pointer(s) })
		delete(x.spots, s.p)
		x.freeSpot(s)
	}
}

// newSpot returns an empty spot at p, reusing a free one when there is one.
func (x *Index) newSpot(p orb.Point) *spot {
	var s *spot
	if n := len(x.freeSpots); n > 0 {
		s = x.freeSpots[n-1]
		x.freeSpots[n-1] = nil
		x.freeSpots = x.freeSpots[:n-1]
	} else {
		if len(x.spotSlab) == cap(x.spotSlab) {
			x.spotSlab = make([]spot, 0, spotSlab)
		}
		x.spotSlab = x.spotSlab[:len(x.spotSlab)+1]
		s = &x.spotSlab[len(x.spotSlab)-1]
		s.entries = s.inline[:0]
	}
	lat := p[1] * rad
	s.p, s.lat, s.cos = p, lat, math.Cos(lat)
	return s
}

// freeSpot keeps s, out of the tree and empty, for newSpot.
func (x *Index) freeSpot(s *spot) {
	clear(s.entries[:cap(s.entries)])
	s.entries = s.entries[:0]
	x.freeSpots = append(x.freeSpots, s)
}

// Located is what became of a fix given to Locate.
type Located struct {
	// Accepted is true when the fix became the driver's last location.
	Accepted bool
	// Last is the driver's last fix after the call.
	Last Fix
}

// Locate records f as driver id's position when it is newer than the last one. It
// reports false, changing nothing, when the index does not track the driver or holds
// them OFFLINE: the caller then asks storage (Apply) and tries again.
func (x *Index) Locate(id string, f Fix) (Located, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.drivers[id]
	if e == nil || e.status == StatusOffline {
		return Located{}, false
	}
	if e.located && !f.Time.After(e.fix.Time) {
		return Located{Last: e.fix}, true
	}
	e.fix, e.located = f, true
	x.place(e, x.now())
	if !e.dirty {
		e.dirty = true
		x.dirty = append(x.dirty, e)
	}
	return Located{Accepted: true, Last: f}, true
}

// LastFix returns the last fix the index holds for driver id.
func (x *Index) LastFix(id string) (Fix, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if e := x.drivers[id]; e != nil && e.located {
		return e.fix, true
	}
	return Fix{}, false
}

// Position is a driver's fix to persist.
type Position struct {
	DriverID string
	Fix      Fix
}

// TakeDirty returns the fixes accepted since the last call, one per driver (the last),
// and forgets them: the caller persists them, and gives them back with Redirty if it
// could not.
func (x *Index) TakeDirty() []Position {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Position, len(x.dirty))
	for i, e := range x.dirty {
		out[i] = Position{DriverID: e.id, Fix: e.fix}
		e.dirty = false
	}
	clear(x.dirty)
	x.dirty = x.dirty[:0]
	return out
}

// Redirty gives back positions TakeDirty returned that could not be persisted; each
// driver's current fix (the same or newer) is persisted with the next batch.
func (x *Index) Redirty(ps []Position) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range ps {
		if e := x.drivers[p.DriverID]; e != nil && !e.dirty {
			e.dirty = true
			x.dirty = append(x.dirty, e)
		}
	}
}

// Sweep takes the entries whose fix went stale out of the tree and reports how many. A
// search excludes stale fixes anyway; sweeping keeps them from costing searches time.
func (x *Index) Sweep() int {
	now := x.now()
	var stale []*entry
	x.mu.RLock()
	for _, s := range x.spots {
		for _, e := range s.entries {
			if !x.fresh(e.fix.Time, now) {
				stale = append(stale, e)
			}
		}
	}
	x.mu.RUnlock()
	if len(stale) == 0 {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, e := range stale {
		if e.spot != nil && !x.fresh(e.fix.Time, now) {
			x.unplace(e)
			n++
		}
	}
	return n
}

// IndexStats counts what an Index holds.
type IndexStats struct {
	// Drivers is the number of drivers known (OFFLINE ones included).
	Drivers int
	// Searchable is the number of drivers in the tree: not OFFLINE, fix not swept.
	Searchable int
	// Spots is the number of distinct coordinates in the tree.
	Spots int
	// Dirty is the number of fixes waiting to be persisted.
	Dirty int
}

// Stats returns what the index holds.
func (x *Index) Stats() IndexStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return IndexStats{Drivers: len(x.drivers), Searchable: x.inTree, Spots: len(x.spots), Dirty: len(x.dirty)}
}

// Query is a nearby search.
type Query struct {
	// Point is the point searched around.
	Point Point
	// RadiusMeters bounds the distance of the drivers found.
	RadiusMeters float64
	// Product, when set, keeps only drivers whose vehicle serves it.
	Product string
	// Limit is the most drivers returned.
	Limit int
}

// Hit is one driver a search found.
type Hit struct {
	DriverID       string
	Fix            Fix
	DistanceMeters float64
	// Driver is the driver's record as the index holds it (the last version stored
	// that this process learned of), without Location (Fix is the location). Its
	// Vehicle.Products is shared with the index: do not modify it.
	Driver Driver
}

// searchStartMeters is the radius a search first looks within; it doubles (or more)
// until Limit drivers are found or it reaches the query's radius. Each round costs about
// the drivers within its radius: in a city's center (a few hundred drivers per km²) a
// first round finds enough; elsewhere the rounds are cheap because drivers are few.
const searchStartMeters = 150

// searchBuf is the memory one search reuses.
type searchBuf struct {
	found []orb.Pointer
	cands []candidate
	hits  []hit
}

// hit is a driver found, while the search ranks them.
type hit struct {
	e *entry
	d float64
}

type candidate struct {
	s *spot
	d float64
}

// Search appends to dst, and returns, the Limit drivers nearest to q.Point within
// q.RadiusMeters who are AVAILABLE, have a fresh fix and serve q.Product, nearest first
// (equal distances by driver id), with their great-circle distances. The result is
// exact: the same as ranking every eligible driver by DistanceMeters.
func (x *Index) Search(dst []Hit, q Query) []Hit {
	if q.Limit <= 0 || q.RadiusMeters < 0 {
		return dst
	}
	now := x.now()
	buf := x.bufs.Get().(*searchBuf)
	defer x.bufs.Put(buf)
	x.mu.RLock()
	defer x.mu.RUnlock()
	rho := min(q.RadiusMeters, searchStartMeters)
	for {
		buf.hits = x.within(q, rho, now, buf, buf.hits[:0])
		if n := len(buf.hits); n >= q.Limit || rho >= q.RadiusMeters {
			for _, h := range buf.hits {
				dst = append(dst, Hit{DriverID: h.e.id, Fix: h.e.fix, DistanceMeters: h.d, Driver: h.e.driver()})
			}
			clear(buf.hits)
			return dst
		}
		// Too few within rho: grow it, faster when nothing was found.
		if n := len(buf.hits); n == 0 {
			rho *= 4
		} else {
			rho *= max(2, math.Sqrt(float64(q.Limit)/float64(n)))
		}
		rho = min(rho, q.RadiusMeters)
	}
}

// within returns the at most q.Limit nearest eligible drivers within rho of q.Point, by
// distance then id. Every eligible driver within rho is considered, so when it returns
// Limit drivers they are the nearest of all.
func (x *Index) within(q Query, rho float64, now time.Time, buf *searchBuf, hits []hit) []hit {
	lat := q.Point.Lat * rad
	cos, lng := math.Cos(lat), q.Point.Lng
	buf.cands = buf.cands[:0]
	bs, n := circleBounds(q.Point, rho)
	for _, b := range bs[:n] {
		buf.found = x.tree.InBound(buf.found[:0], b)
		for _, p := range buf.found {
			s := p.(*spot)
			if d := haversine(lat, cos, lng, s.lat, s.cos, s.p[0]); d <= rho {
				buf.cands = append(buf.cands, candidate{s, d})
			}
		}
	}
	clear(buf.found)
	slices.SortFunc(buf.cands, func(a, b candidate) int { return cmp.Compare(a.d, b.d) })
	for _, c := range buf.cands {
		if len(hits) >= q.Limit && c.d > hits[len(hits)-1].d {
			break // farther than the Limit-th: only equal distances may still rank by id
		}
		n := 0
		for _, e := range c.s.entries { // by id
			if n == q.Limit {
				break
			}
			if e.status == StatusAvailable && x.fresh(e.fix.Time, now) && (q.Product == "" || slices.Contains(e.products, q.Product)) {
				hits = append(hits, hit{e, c.d})
				n++
			}
		}
	}
	clear(buf.cands)
	// Spots at equal distances were taken in any order: rank their drivers by id.
	slices.SortFunc(hits, compareHits)
	return hits[:min(len(hits), q.Limit)]
}

// compareHits orders hits by distance, then driver id.
func compareHits(a, b hit) int {
	if c := cmp.Compare(a.d, b.d); c != 0 {
		return c
	}
	return cmp.Compare(a.e.id, b.e.id)
}

// FreshAt reports whether a fix taken at t is still searchable now.
func (x *Index) FreshAt(t time.Time) bool { return x.fresh(t, x.now()) }

// Candidate returns driver id as a search around p for product would find them,
// whatever the distance: AVAILABLE, with a fresh fix, serving product; false when not.
// A manual dispatch offers its ride to this one driver.
func (x *Index) Candidate(id string, p Point, product string) (Hit, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.drivers[id]
	if e == nil || e.status != StatusAvailable || !e.located || !x.fresh(e.fix.Time, x.now()) ||
		(product != "" && !slices.Contains(e.products, product)) {
		return Hit{}, false
	}
	return Hit{DriverID: id, Fix: e.fix, DistanceMeters: DistanceMeters(p, e.fix.Point), Driver: e.driver()}, true
}

// Available returns the positions of the AVAILABLE drivers with a fresh fix, one per
// driver, for counting the zones' supply.
func (x *Index) Available() []Point {
	now := x.now()
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]Point, 0, x.inTree)
	for _, s := range x.spots {
		for _, e := range s.entries {
			if e.status == StatusAvailable && x.fresh(e.fix.Time, now) {
				out = append(out, e.fix.Point)
			}
		}
	}
	return out
}
