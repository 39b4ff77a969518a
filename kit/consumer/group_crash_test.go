package consumer_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// The environment of a consumer group member process (helper mode "member").
const (
	helperMemberEnv     = "CONSUMER_TEST_MEMBER"
	helperPartitionsEnv = "CONSUMER_TEST_PARTITIONS"
	helperLeaseEnv      = "CONSUMER_TEST_LEASE"
	// Benchmarks only: the handler's CPU work (SHA-256 blocks), the batch size, and
	// whether to call as the stack's consuming service.
	helperBurnEnv     = "CONSUMER_TEST_BURN"
	helperMaxBatchEnv = "CONSUMER_TEST_MAX_BATCH"
	helperAuthEnv     = "CONSUMER_TEST_AUTH"
)

// runMemberHelper is a member process of TestGroupMembersJoinLeaveAndDie: it consumes as
// a group member until killed, leaves the group on SIGTERM, and exits by itself if its
// parent (the test) dies.
func runMemberHelper() int {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	parent := os.Getppid()
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			if os.Getppid() != parent {
				cancel()
				return
			}
		}
	}()
	partitions, err := strconv.Atoi(os.Getenv(helperPartitionsEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	lease, err := time.ParseDuration(os.Getenv(helperLeaseEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pool, err := pgxutil.NewPool(os.Getenv(helperDBEnv), pgxutil.PoolConfig{Schema: testSchema, ApplicationName: "consumer-group-helper"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	var opts []grpc.DialOption
	if os.Getenv(helperAuthEnv) != "" {
		opts = append(opts, stackAuth)
	}
	conn, err := grpcclient.Dial(os.Getenv(helperSourceEnv), grpcclient.Options{}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	// Small batches by default: more commits for the kills to land on.
	maxBatch, burnWork := 4, 0
	if v := os.Getenv(helperMaxBatchEnv); v != "" {
		maxBatch, _ = strconv.Atoi(v)
	}
	if v := os.Getenv(helperBurnEnv); v != "" {
		burnWork, _ = strconv.Atoi(v)
	}
	name, member := os.Getenv(helperNameEnv), os.Getenv(helperMemberEnv)
	err = consumer.Run(ctx, consumer.Config{
		Name: name, Source: "trip", Client: eventsv1.NewEventStreamServiceClient(conn), Pool: pool,
		MaxBatch: maxBatch,
		Group:    consumer.Group{Partitions: partitions, Member: member, Lease: lease},
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		if burnWork > 0 {
			burn(burnWork)
		} else {
			// Slow enough that kills land inside transactions.
			time.Sleep(time.Millisecond)
		}
		return recordMemberEffect(ctx, tx, name, member, ev)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Members join, leave (SIGTERM) and are SIGKILLed while a stream of events arrives: every
// event is applied exactly once, each key's in order, and no partition goes without a
// valid lease for longer than the lease.
func TestGroupMembersJoinLeaveAndDie(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const (
		n, parts = 3600, 8
		lease    = time.Second
	)
	name := "group"
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := func(member string) *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(),
			helperEnv+"=member",
			helperDBEnv+"="+pool.Config().ConnString(),
			helperSourceEnv+"="+srv.addr,
			helperNameEnv+"="+name,
			helperMemberEnv+"="+member,
			helperPartitionsEnv+"="+strconv.Itoa(parts),
			helperLeaseEnv+"="+lease.String(),
		)
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	stop := func(cmd *exec.Cmd, sig os.Signal) {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	applied := func(member string) int {
		return count(t, pool, `SELECT count(*) FROM effects WHERE consumer = $1 AND member = $2`, name, member)
	}

	// The stream: n events over 40 keys, at about 300 events/s, for 12 s: the last kill lands
	// in it too.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var producing sync.WaitGroup
	producing.Go(func() {
		for added := 0; added < n && ctx.Err() == nil; added += 30 {
			src.addN(30, 40)
			time.Sleep(100 * time.Millisecond)
		}
	})

	// The watch: how long each partition goes without a valid lease.
	var gapMu sync.Mutex
	var maxGap time.Duration
	gapPart := -1
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		lastOwned := map[int]time.Time{}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			<-tick.C
			rows, err := pool.Query(ctx, `SELECT partition, owner <> '' AND lease_until > clock_timestamp(), clock_timestamp()
				FROM consumer_leases WHERE consumer = $1`, name)
			if err != nil {
				continue
			}
			for rows.Next() {
				var p int32
				var owned bool
				var now time.Time
				if err := rows.Scan(&p, &owned, &now); err != nil {
					break
				}
				last, seen := lastOwned[int(p)]
				if owned {
					lastOwned[int(p)] = now
					continue
				}
				if seen { // owned once: from then on, count the gaps
					gapMu.Lock()
					if gap := now.Sub(last); gap > maxGap {
						maxGap, gapPart = gap, int(p)
					}
					gapMu.Unlock()
				}
			}
			rows.Close()
		}
	}()

	// How long a killed member's partitions stay with it: until its lease runs out and a
	// live member's next renewal claims them.
	var takeovers sync.WaitGroup
	var takeoverMu sync.Mutex
	var maxTakeover time.Duration
	killed := func(member string) {
		at := time.Now()
		takeovers.Go(func() {
			for time.Since(at) < time.Minute {
				if count(t, pool, `SELECT count(*) FROM consumer_leases WHERE consumer = $1 AND owner = $2`, name, member) == 0 {
					d := time.Since(at)
					t.Logf("%s's partitions taken over %v after its death", member, d.Round(time.Millisecond))
					takeoverMu.Lock()
					maxTakeover = max(maxTakeover, d)
					takeoverMu.Unlock()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("%s's partitions not taken over within a minute", member)
		})
	}
	step := func(what string, d time.Duration) {
		time.Sleep(d)
		t.Logf("%s (%d effects)", what, count(t, pool, `SELECT count(*) FROM effects`))
	}
	m1 := start("m1")
	step("m1 started", 1500*time.Millisecond)
	m2 := start("m2")
	step("m2 joined", 1500*time.Millisecond)
	m3 := start("m3")
	step("m3 joined", 1500*time.Millisecond)
	stop(m1, os.Kill)
	killed("m1")
	step("m1 killed", 1500*time.Millisecond)
	m4 := start("m4")
	step("m4 joined", 1000*time.Millisecond)
	stop(m2, syscall.SIGTERM)
	step("m2 left", 1500*time.Millisecond)
	stop(m3, os.Kill)
	killed("m3")
	step("m3 killed", 1000*time.Millisecond)
	m5 := start("m5")
	step("m5 joined", 1000*time.Millisecond)
	stop(m4, os.Kill)
	killed("m4")
	step("m4 killed", 0)

	producing.Wait()
	grpctest.Eventually(t, 60*time.Second, "all events applied", func() bool {
		return count(t, pool, `SELECT count(*) FROM effects WHERE consumer = $1`, name) >= n
	})
	takeovers.Wait() // m5 takes m4's partitions
	// Give late duplicates, if any, a moment to show.
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-watching
	stop(m5, syscall.SIGTERM)

	checkExactlyOnce(t, pool, name, n)
	for _, m := range []string{"m1", "m2", "m3", "m4", "m5"} {
		c := applied(m)
		t.Logf("member %s applied %d events", m, c)
		if c == 0 {
			t.Errorf("member %s applied nothing", m)
		}
	}
	if got := count(t, pool, `SELECT count(*) FROM parked_events`); got != 0 {
		t.Errorf("%d events parked", got)
	}
	var epochs int
	for _, p := range partitionsOf(t, pool, name) {
		epochs += int(p.Epoch)
	}
	gapMu.Lock()
	defer gapMu.Unlock()
	t.Logf("%d acquisitions over %d partitions; longest time a partition had no valid lease: %v (partition %d)", epochs, parts, maxGap, gapPart)
	if epochs < 3*parts {
		t.Errorf("only %d acquisitions: the members did not rebalance", epochs)
	}
	// A lease renewed just before the kill runs out a lease later; a live member claims
	// the partitions at its next renewal, a third of a lease on.
	if maxTakeover > lease+lease/3+500*time.Millisecond {
		t.Errorf("a killed member's partitions were taken over only after %v (lease %v)", maxTakeover, lease)
	}
	if maxGap > lease {
		t.Errorf("partition %d had no valid lease for %v, longer than the lease (%v)", gapPart, maxGap, lease)
	}
}
