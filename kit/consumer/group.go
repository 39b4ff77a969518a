package consumer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// Group makes a Run one member of a consumer group: the source's stream is split by key
// hash into Partitions partitions (PartitionOf), each with its own cursor (table
// consumer_partition_cursors) and owned by one live member at a time through a lease
// (consumer_leases); the live members (consumer_members) split the partitions between
// them in contiguous ranges, in member-name order, and the ranges move when members join,
// leave (releasing their leases) or die (their leases lapse after Lease).
//
// Every member subscribes to the whole stream, from the oldest cursor of the partitions it
// owns, and applies only the events of its partitions: the stream filters nothing by key,
// so each member receives and decodes every event (the source's single reader still reads
// each event from its database once), which is cheap next to handlers that write to a
// database; what grows with the members is the handlers' throughput. Each transaction
// locks the cursor rows of the member's partitions, checks that their leases still name the
// member with the epoch it acquired (the fencing token) and have not run out, and advances
// the cursors with the handlers' writes: a member that lost a partition cannot commit its
// events, and a member taking a partition over waits (skipping it) while the previous
// owner's transaction holds the cursor row, then resumes after the cursor that transaction
// left. Each key maps to one partition, so per-key order and the exactly-once effect hold
// across rebalances; parking works per key as without a group.
//
// Partitions cannot change once the group has started (Run refuses another count: keys
// would move between partitions, and their order with them). A consumer that ran without a
// group starts every partition at its single cursor; stop all its replicas before starting
// them as a group (replicas of both kinds at once would each apply the events). Cursor
// keeps reporting the single cursor, which a group leaves as it was: code that reads a
// consumer's position (kit/accountgate's seeding, say) must read Partitions for a
// consumer run as a group. Member names must be unique among the live members.
type Group struct {
	// Partitions is how many partitions the stream is split into; 0 runs without a
	// group (one cursor; replicas take turns on it, so they add no throughput). More
	// partitions than members lets the group grow; members beyond Partitions stay idle.
	Partitions int
	// Member names this member, unique within the group (the live members sort by it);
	// empty uses the host name and process id.
	Member string
	// Lease is how long a member owns its partitions without renewing; members renew
	// every third of it. A member that dies holds its partitions until its lease runs
	// out, and the others claim them at their next renewal: they go unapplied for up to
	// about a lease and a third. 0 means DefaultLease.
	Lease time.Duration
}

// DefaultLease is Group.Lease's default.
const DefaultLease = 10 * time.Second

// minLease bounds Group.Lease from below: a renewal every third of it must fit in it.
const minLease = 100 * time.Millisecond

// Flags binds g's fields to flags on fs (and so to WAYBILL_CONSUMER_* variables through
// kit/config): --consumer-partitions, --consumer-member and --consumer-lease, g's values
// being the defaults. A service that offers groups binds them once and sets the result as
// Config.Group of the consumers it runs as groups.
func (g *Group) Flags(fs *flag.FlagSet) {
	fs.IntVar(&g.Partitions, "consumer-partitions", g.Partitions,
		"split each consumed stream into this many partitions shared by the service's replicas (a consumer group; 0: one cursor, replicas take turns); fixed once used")
	fs.StringVar(&g.Member, "consumer-member", g.Member, "this replica's name in its consumer groups (empty: host name and process id)")
	fs.DurationVar(&g.Lease, "consumer-lease", g.Lease, "how long a consumer group member owns its partitions without renewing (0: 10s)")
}

// enabled reports whether g makes a group.
func (g Group) enabled() bool { return g.Partitions > 0 }

// withDefaults validates g and fills in its zero fields.
func (g Group) withDefaults() (Group, error) {
	if g.Partitions < 0 || g.Lease < 0 {
		return g, errors.New("consumer: negative Group.Partitions or Group.Lease")
	}
	if !g.enabled() {
		return g, nil
	}
	if g.Lease == 0 {
		g.Lease = DefaultLease
	}
	if g.Lease < minLease {
		return g, fmt.Errorf("consumer: Group.Lease %v is below %v", g.Lease, minLease)
	}
	if g.Member == "" {
		host, _ := os.Hostname()
		g.Member = host + "-" + strconv.Itoa(os.Getpid())
	}
	return g, nil
}

// PartitionOf returns the partition, in [0, n), of events with key: FNV-1a (32 bits) of
// the key modulo n. Events without a key fall in partition 0.
func PartitionOf(key string, n int) int {
	if key == "" {
		return 0
	}
	// FNV-1a inline: hash/fnv's hasher allocates, and this runs for every event.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// ErrPartitionsChanged is returned by Run when the group's partitions were created with
// another count than Config.Group.Partitions.
var ErrPartitionsChanged = errors.New("consumer group has another partition count")

// errLeaseLost ends a session whose member no longer owns one of the partitions it
// started with (the lease lapsed, was released or was taken over).
var errLeaseLost = errors.New("lost the lease of a partition")

// errRebalanced ends a session whose member's partitions changed.
var errRebalanced = errors.New("the member's partitions changed")

// ownership is what a member owns at one moment: partitions with the epochs it acquired
// them at.
type ownership struct {
	version int64
	epochs  map[int]int64
	parts   []int         // the keys of epochs, sorted
	changed chan struct{} // closed when a newer ownership replaces this one
}

// owns reports whether o includes partition p.
func (o *ownership) owns(p int) bool {
	_, ok := o.epochs[p]
	return ok
}

// stale reports whether a newer ownership has replaced o.
func (o *ownership) stale() bool {
	select {
	case <-o.changed:
		return true
	default:
		return false
	}
}

// group keeps one member's membership and leases: it renews them every third of the lease,
// works out from the live members which partitions are its share, releases the others and
// claims its share as the partitions come free.
type group struct {
	name, source string
	cfg          Group
	db           txn.Querier
	log          *slog.Logger
	tickMu       sync.Mutex // one tick at a time

	mu  sync.Mutex
	cur *ownership
}

func newGroup(cfg Config) *group {
	return &group{name: cfg.Name, source: cfg.Source, cfg: cfg.Group, db: cfg.Pool,
		log: cfg.Logger.With(slog.String("member", cfg.Group.Member)),
		cur: &ownership{epochs: map[int]int64{}, changed: make(chan struct{})}}
}

// snapshot returns what the member owns now.
func (g *group) snapshot() *ownership {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// set publishes epochs as the member's ownership when it differs from the current one.
func (g *group) set(epochs map[int]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if maps.Equal(epochs, g.cur.epochs) {
		return
	}
	parts := slices.Sorted(maps.Keys(epochs))
	g.log.Info("consumer group partitions changed", slog.Any("partitions", parts))
	next := &ownership{version: g.cur.version + 1, epochs: epochs, parts: parts, changed: make(chan struct{})}
	close(g.cur.changed)
	g.cur = next
}

// waitOwned returns the member's ownership once it owns a partition, or ctx's error.
func (g *group) waitOwned(ctx context.Context) (*ownership, error) {
	for {
		o := g.snapshot()
		if len(o.parts) > 0 {
			return o, nil
		}
		select {
		case <-o.changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

const (
	// ensureCursorsSQL creates the group's partitions on first use, each starting at the
	// consumer's single cursor when it ran without a group before, unless they exist with
	// another count.
	ensureCursorsSQL = `
INSERT INTO consumer_partition_cursors (consumer, source, partition, partitions, seq, cursor)
SELECT $1, $2, p, $3, coalesce(cc.seq, 0), coalesce(cc.cursor, '')
FROM generate_series(0, $3 - 1) AS p
LEFT JOIN consumer_cursors cc ON cc.consumer = $1 AND cc.source = $2
WHERE NOT EXISTS (SELECT 1 FROM consumer_partition_cursors
                  WHERE consumer = $1 AND source = $2 AND partitions <> $3)
ON CONFLICT (consumer, source, partition) DO NOTHING`

	ensureLeasesSQL = `
INSERT INTO consumer_leases (consumer, source, partition)
SELECT $1, $2, p FROM generate_series(0, $3 - 1) AS p
WHERE NOT EXISTS (SELECT 1 FROM consumer_partition_cursors
                  WHERE consumer = $1 AND source = $2 AND partitions <> $3)
ON CONFLICT (consumer, source, partition) DO NOTHING`

	partitionCountSQL = `SELECT count(*), coalesce(min(partitions), 0), coalesce(max(partitions), 0)
FROM consumer_partition_cursors WHERE consumer = $1 AND source = $2`
)

// ensure creates the group's rows on first use and checks that they were made for the
// same partition count.
func (g *group) ensure(ctx context.Context) error {
	var q pgx.Batch
	q.Queue(ensureCursorsSQL, g.name, g.source, g.cfg.Partitions)
	q.Queue(ensureLeasesSQL, g.name, g.source, g.cfg.Partitions)
	var n, lo, hi int
	q.Queue(partitionCountSQL, g.name, g.source).QueryRow(func(row pgx.Row) error { return row.Scan(&n, &lo, &hi) })
	if err := g.db.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("create the group's partitions: %w", err)
	}
	if n != g.cfg.Partitions || lo != g.cfg.Partitions || hi != g.cfg.Partitions {
		return fmt.Errorf("consumer %s, source %s: %w: %d partitions (made for %d..%d), configured %d",
			g.name, g.source, ErrPartitionsChanged, n, lo, hi, g.cfg.Partitions)
	}
	return nil
}

const (
	// joinSQL registers or renews the membership.
	joinSQL = `
INSERT INTO consumer_members (consumer, source, member, expires_at) VALUES ($1, $2, $3, now() + $4::bigint * interval '1 microsecond')
ON CONFLICT (consumer, source, member) DO UPDATE SET expires_at = excluded.expires_at`

	// forgetDeadSQL removes members whose membership lapsed long ago.
	forgetDeadSQL = `DELETE FROM consumer_members WHERE consumer = $1 AND source = $2 AND expires_at < now() - interval '1 hour'`

	liveMembersSQL = `SELECT member FROM consumer_members
WHERE consumer = $1 AND source = $2 AND expires_at > now() ORDER BY member`

	// renewSQL extends the member's leases and returns them.
	renewSQL = `UPDATE consumer_leases SET lease_until = now() + $4::bigint * interval '1 microsecond'
WHERE consumer = $1 AND source = $2 AND owner = $3 RETURNING partition, epoch`

	// releaseSQL gives partitions up (to members whose share they now are).
	releaseSQL = `UPDATE consumer_leases SET owner = '', lease_until = now()
WHERE consumer = $1 AND source = $2 AND owner = $3 AND partition = ANY($4)`

	// claimSQL takes over the partitions among $4 that are free (released, or their lease
	// ran out) and whose cursor row no transaction holds: a previous owner still applying
	// them finishes first (the next tick tries again). A new epoch fences the previous
	// owner out.
	claimSQL = `
UPDATE consumer_leases l
SET owner = $3, epoch = l.epoch + 1, acquired_at = now(), lease_until = now() + $5::bigint * interval '1 microsecond'
FROM (SELECT partition FROM consumer_partition_cursors
      WHERE consumer = $1 AND source = $2 AND partition = ANY($4)
      FOR UPDATE SKIP LOCKED) AS free
WHERE l.consumer = $1 AND l.source = $2 AND l.partition = free.partition
  AND (l.owner = '' OR l.lease_until <= now())
RETURNING l.partition, l.epoch`

	leaveSQL = `DELETE FROM consumer_members WHERE consumer = $1 AND source = $2 AND member = $3`
)

// tick renews the membership and the leases, releases what is no longer the member's
// share, claims what is and has come free, and publishes the result.
func (g *group) tick(ctx context.Context) error {
	g.tickMu.Lock()
	defer g.tickMu.Unlock()
	lease := g.cfg.Lease.Microseconds()
	me := g.cfg.Member

	var live []string
	held := map[int]int64{}
	var q pgx.Batch
	q.Queue(joinSQL, g.name, g.source, me, lease)
	q.Queue(forgetDeadSQL, g.name, g.source)
	q.Queue(liveMembersSQL, g.name, g.source).Query(func(rows pgx.Rows) error {
		var err error
		live, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	q.Queue(renewSQL, g.name, g.source, me, lease).Query(func(rows pgx.Rows) error {
		return collectEpochs(rows, held)
	})
	if err := g.db.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("renew membership and leases: %w", err)
	}

	share := shareOf(live, me, g.cfg.Partitions)
	var release, claim []int
	for p := range held {
		if !share[p] {
			release = append(release, p)
		}
	}
	for p := range share {
		if _, ok := held[p]; !ok {
			claim = append(claim, p)
		}
	}
	if len(release) > 0 {
		if _, err := g.db.Exec(ctx, releaseSQL, g.name, g.source, me, release); err != nil {
			return fmt.Errorf("release partitions: %w", err)
		}
		for _, p := range release {
			delete(held, p)
		}
	}
	if len(claim) > 0 {
		rows, err := g.db.Query(ctx, claimSQL, g.name, g.source, me, claim, lease)
		if err != nil {
			return fmt.Errorf("claim partitions: %w", err)
		}
		if err := collectEpochs(rows, held); err != nil {
			return fmt.Errorf("claim partitions: %w", err)
		}
	}
	g.set(held)
	return nil
}

// collectEpochs reads (partition, epoch) rows into m.
func collectEpochs(rows pgx.Rows, m map[int]int64) error {
	defer rows.Close()
	for rows.Next() {
		var p int32
		var e int64
		if err := rows.Scan(&p, &e); err != nil {
			return err
		}
		m[int(p)] = e
	}
	return rows.Err()
}

// shareOf returns member me's partitions among n, given the live members in name order:
// contiguous ranges of nearly equal size. A member not (yet) seen live gets none.
func shareOf(live []string, me string, n int) map[int]bool {
	i := slices.Index(live, me)
	share := map[int]bool{}
	if i < 0 {
		return share
	}
	m := len(live)
	for p := i * n / m; p < (i+1)*n/m; p++ {
		share[p] = true
	}
	return share
}

// run ticks every third of the lease until ctx ends, then leaves the group: it releases
// its partitions for the other members to claim at their next tick.
func (g *group) run(ctx context.Context) {
	every := g.cfg.Lease / 3
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.leave()
			return
		case <-t.C:
		}
		if err := g.tick(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("consumer group: renewing leases failed; retrying", slog.Any("error", pgxutil.MapError(err)))
		}
		t.Reset(every)
	}
}

// leave releases every partition and ends the membership, so that the other members need
// not wait for the leases to run out.
func (g *group) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.tickMu.Lock()
	defer g.tickMu.Unlock()
	var q pgx.Batch
	q.Queue(`UPDATE consumer_leases SET owner = '', lease_until = now()
WHERE consumer = $1 AND source = $2 AND owner = $3`, g.name, g.source, g.cfg.Member)
	q.Queue(leaveSQL, g.name, g.source, g.cfg.Member)
	if err := g.db.SendBatch(ctx, &q).Close(); err != nil {
		g.log.Warn("consumer group: leaving failed; the leases lapse instead", slog.Any("error", err))
	}
	g.set(map[int]int64{})
}

// PartitionPosition is one partition of a consumer group and how far it is applied.
type PartitionPosition struct {
	// Partition is the partition's number, in [0, Group.Partitions).
	Partition int
	Position
	// Owner is the member holding the partition's lease; empty when released.
	Owner string
	// Epoch counts the partition's acquisitions.
	Epoch int64
	// LeaseUntil is when the owner's lease runs out unless renewed.
	LeaseUntil time.Time
}

const partitionsSQL = `
SELECT c.partition, c.seq, c.cursor, l.owner, l.epoch, l.lease_until
FROM consumer_partition_cursors c
JOIN consumer_leases l USING (consumer, source, partition)
WHERE c.consumer = $1 AND c.source = $2 ORDER BY c.partition`

// Partitions returns the partitions of consumer name's group on source with their
// committed positions and owners, or none when it has not run as a group. q must reach the
// tables of Migrations through its search_path.
func Partitions(ctx context.Context, q txn.Querier, name, source string) ([]PartitionPosition, error) {
	rows, err := q.Query(ctx, partitionsSQL, name, source)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("read partitions of consumer %s, source %s: %w", name, source, err))
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PartitionPosition, error) {
		var p PartitionPosition
		var part int32
		err := row.Scan(&part, &p.Seq, &p.Cursor, &p.Owner, &p.Epoch, &p.LeaseUntil)
		p.Partition = int(part)
		return p, err
	})
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("read partitions of consumer %s, source %s: %w", name, source, err))
	}
	return list, nil
}

// startGroup creates the group's partitions (retrying until the database answers),
// starts renewing the member's leases and reporting its partitions' lag, and returns what
// leaves the group: it releases the member's partitions once Run's last transaction has
// ended. It returns a nil stop when ctx ended first.
func (c *consumer) startGroup(ctx context.Context) (stop func(), err error) {
	c.group = newGroup(c.cfg)
	c.plag = &partLags{n: c.cfg.Group.Partitions}
	if err := c.retryDB(ctx, "create the group's partitions", func() error { return c.group.ensure(ctx) }); err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	reg, err := newGroupMetrics(c.cfg, c.plag, c.group)
	if err != nil {
		return nil, err
	}
	// The leases outlive ctx until Run's transactions are over: leaving earlier would
	// let another member claim a partition whose last batch is still committing (it
	// would wait for the batch, but no longer need to).
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.group.run(gctx)
	}()
	return func() {
		cancel()
		<-done
		_ = reg.Unregister()
	}, nil
}
