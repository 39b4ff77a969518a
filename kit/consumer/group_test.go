package consumer_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/txn"
)

// recordMemberEffect is recordEffect noting which group member applied ev.
func recordMemberEffect(ctx context.Context, tx *txn.Tx, name, member string, ev *eventsv1.Event) error {
	var v wrapperspb.Int64Value
	if ev.GetPayload() != nil {
		if err := ev.GetPayload().UnmarshalTo(&v); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO effects (consumer, event_id, key, seq, value, member) VALUES ($1, $2, $3, $4, $5, $6)`,
		name, ev.GetId(), ev.GetKey(), ev.GetSequence(), v.GetValue(), member)
	return err
}

// memberHandler is the group tests' handler for member.
func memberHandler(name, member string) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		return recordMemberEffect(ctx, tx, name, member, ev)
	}
}

// partitionsOf reads the group's partitions.
func partitionsOf(t testing.TB, pool *pgxpool.Pool, name string) []consumer.PartitionPosition {
	t.Helper()
	ps, err := consumer.Partitions(context.Background(), pool, name, "trip")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// PartitionOf spreads keys evenly and always maps a key to the same partition.
func TestPartitionOf(t *testing.T) {
	t.Parallel()
	const n, keys = 8, 8000
	counts := make([]int, n)
	for i := range keys {
		k := "key-" + strconv.Itoa(i)
		p := consumer.PartitionOf(k, n)
		if p < 0 || p >= n || consumer.PartitionOf(k, n) != p {
			t.Fatalf("PartitionOf(%q) = %d", k, p)
		}
		counts[p]++
	}
	for p, c := range counts {
		if c < keys/n*8/10 || c > keys/n*12/10 {
			t.Errorf("partition %d has %d of %d keys, want about %d", p, c, keys, keys/n)
		}
	}
	if consumer.PartitionOf("", n) != 0 {
		t.Error("events without a key are not in partition 0")
	}
}

// Two members split the partitions evenly; together they apply every event exactly once,
// in order per key, both doing part of the work; the partition gauges carry the
// partition.
func TestGroupMembersSplitPartitions(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	const n, parts = 2000, 8
	name := "split"
	for _, m := range []string{"a", "b"} {
		runConsumer(t, consumer.Config{
			Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t), Meter: mp.Meter("test"),
			Group: consumer.Group{Partitions: parts, Member: m, Lease: 600 * time.Millisecond},
		}, memberHandler(name, m))
	}
	grpctest.Eventually(t, 10*time.Second, "the members own 4 partitions each", func() bool {
		owners := map[string]int{}
		for _, p := range partitionsOf(t, pool, name) {
			owners[p.Owner]++
		}
		return owners["a"] == parts/2 && owners["b"] == parts/2
	})
	for range 10 {
		src.addN(n/10, 50)
		time.Sleep(10 * time.Millisecond)
	}
	grpctest.Eventually(t, 30*time.Second, "all events applied", func() bool {
		return count(t, pool, `SELECT count(*) FROM effects WHERE consumer = $1`, name) >= n
	})
	checkExactlyOnce(t, pool, name, n)
	for _, m := range []string{"a", "b"} {
		if c := count(t, pool, `SELECT count(*) FROM effects WHERE member = $1`, m); c < n/4 {
			t.Errorf("member %s applied %d of %d events", m, c, n)
		}
	}
	// Each partition was applied by its owner only.
	if c := count(t, pool, `SELECT count(DISTINCT member) FROM effects GROUP BY key ORDER BY 1 DESC LIMIT 1`); c != 1 {
		t.Errorf("a key's events were applied by %d members", c)
	}
	// Every partition's cursor reaches the end once the stream idles (heartbeats store the
	// position of partitions that had no events of late).
	grpctest.Eventually(t, 10*time.Second, "every partition's cursor at the end", func() bool {
		for _, p := range partitionsOf(t, pool, name) {
			if p.Seq != n {
				return false
			}
		}
		return true
	})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	owned := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok {
				continue
			}
			for _, dp := range g.DataPoints {
				switch m.Name {
				case consumer.MetricPartitionSeq:
					p, _ := dp.Attributes.Value("partition")
					seen[p.AsInt64()] = true
					if dp.Value != n {
						t.Errorf("partition %d: seq gauge %d, want %d", p.AsInt64(), dp.Value, n)
					}
				case consumer.MetricPartitionLagEvents:
					if dp.Value != 0 {
						t.Errorf("partition lag %d events after the drain: %v", dp.Value, dp.Attributes.ToSlice())
					}
				case consumer.MetricPartitionsOwned:
					mem, _ := dp.Attributes.Value(attribute.Key("member"))
					owned[mem.AsString()] = dp.Value
				}
			}
		}
	}
	if len(seen) != parts {
		t.Errorf("partition gauges for %d partitions, want %d", len(seen), parts)
	}
	if owned["a"] != parts/2 || owned["b"] != parts/2 {
		t.Errorf("owned gauges %v, want 4 each", owned)
	}
}

// A member applies a partition's events only under a lease naming it with the epoch it
// acquired: after a takeover, or once its lease ran out, its transaction fails and
// changes nothing. A takeover waits for the transaction in flight of the previous owner,
// whose lease was valid when it began.
func TestGroupLostLeaseCannotCommit(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	ctx := t.Context()
	name := "fenced"
	cfg := func(member string) consumer.Config {
		return consumer.Config{Name: name, Source: "trip", Client: client(t, "127.0.0.1:1"), Pool: pool, Logger: testLogger(t),
			Group: consumer.Group{Partitions: 1, Member: member, Lease: time.Minute}}
	}
	seq := int64(0)
	next := func() []*eventsv1.Event {
		seq++
		payload, _ := anypb.New(wrapperspb.Int64(seq))
		return []*eventsv1.Event{{Id: newID(), Type: "shop.item.changed", Key: "k", Sequence: seq, Payload: payload, Source: "trip"}}
	}
	claim := func(member string) map[int]int64 {
		got, err := consumer.Claim(ctx, pool, name, "trip", member, []int{0}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Create the partition, then let a take it.
	if err := consumer.ApplyAsMember(ctx, cfg("a"), map[int]int64{0: 0}, nil, memberHandler(name, "a")); !errors.Is(err, consumer.ErrLeaseLost) {
		t.Fatalf("apply without a lease: %v, want the lease lost", err)
	}
	a := claim("a")
	if a[0] != 1 {
		t.Fatalf("a claimed %v, want partition 0 at epoch 1", a)
	}
	if err := consumer.ApplyAsMember(ctx, cfg("a"), a, next(), memberHandler(name, "a")); err != nil {
		t.Fatalf("apply under a valid lease: %v", err)
	}
	if got := claim("b"); len(got) != 0 {
		t.Fatalf("b took over a valid lease: %v", got)
	}

	// a's lease runs out while its batch is in the handler: b cannot take over until that
	// transaction ends; it commits, being valid when it began.
	inHandler, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- consumer.ApplyAsMember(ctx, cfg("a"), a, next(), func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
			close(inHandler)
			<-release
			return recordMemberEffect(ctx, tx, name, "a", ev)
		})
	}()
	<-inHandler
	if _, err := pool.Exec(ctx, `UPDATE consumer_leases SET lease_until = now() - interval '1 second' WHERE consumer = $1`, name); err != nil {
		t.Fatal(err)
	}
	if got := claim("b"); len(got) != 0 {
		t.Fatalf("b took over a partition whose transaction is in flight: %v", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("a's batch begun under a valid lease: %v", err)
	}
	b := claim("b")
	if b[0] != 2 {
		t.Fatalf("b claimed %v, want partition 0 at epoch 2", b)
	}

	// a, not knowing, tries again: fenced out, nothing written, the cursor unmoved.
	before := count(t, pool, `SELECT count(*) FROM effects`)
	err := consumer.ApplyAsMember(ctx, cfg("a"), a, next(), memberHandler(name, "a"))
	if !errors.Is(err, consumer.ErrLeaseLost) {
		t.Fatalf("apply after the takeover: %v, want the lease lost", err)
	}
	if after := count(t, pool, `SELECT count(*) FROM effects`); after != before {
		t.Fatalf("the fenced member wrote %d effects", after-before)
	}
	seq-- // the event was not applied: b applies it
	if ps := partitionsOf(t, pool, name); ps[0].Seq != 2 || ps[0].Owner != "b" || ps[0].Epoch != 2 {
		t.Fatalf("partition after the fenced try: %+v", ps[0])
	}
	if err := consumer.ApplyAsMember(ctx, cfg("b"), b, next(), memberHandler(name, "b")); err != nil {
		t.Fatalf("b applies: %v", err)
	}

	// b's lease runs out with nobody taking over: b no longer applies either.
	if _, err := pool.Exec(ctx, `UPDATE consumer_leases SET lease_until = now() - interval '1 second' WHERE consumer = $1`, name); err != nil {
		t.Fatal(err)
	}
	if err := consumer.ApplyAsMember(ctx, cfg("b"), b, next(), memberHandler(name, "b")); !errors.Is(err, consumer.ErrLeaseLost) {
		t.Fatalf("apply under an expired lease: %v, want the lease lost", err)
	}
	checkExactlyOnce(t, pool, name, 3)
}

// A consumer that ran on one cursor starts each partition of its group there; a group
// refuses another partition count than it was made with.
func TestGroupStartsFromSingleCursorAndKeepsItsPartitionCount(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	name := "upgraded"
	src.addN(500, 20)
	stop := runConsumer(t, consumer.Config{Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t)},
		memberHandler(name, ""))
	grpctest.Eventually(t, 10*time.Second, "the single cursor at 500", func() bool { return cursorSeq(t, pool, name, "trip") == 500 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	src.addN(500, 20)
	group := consumer.Config{Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t),
		Group: consumer.Group{Partitions: 4, Member: "m", Lease: 300 * time.Millisecond}}
	runConsumer(t, group, memberHandler(name, "m"))
	grpctest.Eventually(t, 10*time.Second, "all events applied", func() bool {
		return count(t, pool, `SELECT count(*) FROM effects WHERE consumer = $1`, name) >= 1000
	})
	checkExactlyOnce(t, pool, name, 1000)
	if c := count(t, pool, `SELECT count(*) FROM effects WHERE member = 'm' AND seq <= 500`); c != 0 {
		t.Errorf("the group applied %d events the single cursor had applied", c)
	}

	group.Group.Partitions = 8
	err := consumer.Run(t.Context(), group, memberHandler(name, "m"))
	if !errors.Is(err, consumer.ErrPartitionsChanged) {
		t.Fatalf("Run with 8 partitions on a group of 4: %v, want ErrPartitionsChanged", err)
	}
	for _, bad := range []consumer.Group{{Partitions: -1}, {Partitions: 2, Lease: time.Millisecond}} {
		group.Group = bad
		if err := consumer.Run(t.Context(), group, memberHandler(name, "m")); err == nil {
			t.Errorf("Run with %+v returned nil", bad)
		}
	}
}

// In a group, an event whose handler keeps failing is parked with the later events of its
// key behind it, by whichever member owns the key's partition, while the other keys flow;
// a replay after the fix applies the key's events in order, each once.
func TestGroupParksPerKey(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	name := "group-ledger"
	var broken brokenKeys
	broken.set("b", true)
	handler := func(member string) consumer.Handler {
		return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
			if broken.broken(ev.GetKey()) {
				return errors.New("cannot apply " + ev.GetKey())
			}
			return recordMemberEffect(ctx, tx, name, member, ev)
		}
	}
	for _, m := range []string{"a", "b"} {
		runConsumer(t, consumer.Config{
			Name: name, Source: "trip", Client: client(t, srv.addr), Pool: pool, Logger: testLogger(t), Retry: quick,
			Group: consumer.Group{Partitions: 4, Member: m, Lease: 600 * time.Millisecond},
		}, handler(m))
	}
	grpctest.Eventually(t, 10*time.Second, "the members own 2 partitions each", func() bool {
		owners := map[string]int{}
		for _, p := range partitionsOf(t, pool, name) {
			owners[p.Owner]++
		}
		return owners["a"] == 2 && owners["b"] == 2
	})
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var stream []string
	for i := range 60 {
		stream = append(stream, keys[i%len(keys)])
	}
	src.add(stream...)
	grpctest.Eventually(t, 20*time.Second, "all events applied or parked", func() bool {
		return count(t, pool, `SELECT count(*) FROM effects`)+count(t, pool, `SELECT count(*) FROM parked_events`) >= 60
	})
	if got := appliedSeqs(t, pool, name, "b"); len(got) != 0 {
		t.Fatalf("key b: events %v applied while its handler fails", got)
	}
	parking := consumer.NewParking(pool, map[string]consumer.Handler{name: handler("replay")}, consumer.ParkingOptions{})
	parked, _ := listAll(t, parking, name, 100)
	if want := []int64{2, 8, 14, 20, 26, 32, 38, 44, 50, 56}; !slices.Equal(parkedSeqs(parked), want) {
		t.Fatalf("parked %v, want %v", parkedSeqs(parked), want)
	}
	if parked[0].Error != "cannot apply b" || parked[1].Error != "" {
		t.Errorf("parked errors %q, %q: want the handler's, then none behind it", parked[0].Error, parked[1].Error)
	}
	broken.set("b", false)
	res, err := parking.Replay(t.Context(), name, nil)
	if err != nil || res.Replayed != 10 || res.Failed != 0 {
		t.Fatalf("Replay = %+v, %v; want 10 replayed", res, err)
	}
	checkExactlyOnce(t, pool, name, 60)
}
