package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// The environment of a re-executed test binary running as a consumer process.
const (
	helperEnv       = "CONSUMER_TEST_HELPER" // the helper mode: "consume"
	helperDBEnv     = "CONSUMER_TEST_DATABASE_URL"
	helperSourceEnv = "CONSUMER_TEST_SOURCE_ADDR"
	helperNameEnv   = "CONSUMER_TEST_CONSUMER"
)

// runHelper is the consumer process of TestCrashSafety: it consumes until killed, and
// exits by itself if its parent (the test) dies.
func runHelper() int {
	if os.Getenv(helperEnv) == "member" {
		return runMemberHelper()
	}
	if os.Getenv(helperEnv) != "consume" {
		fmt.Fprintln(os.Stderr, "unknown helper mode", os.Getenv(helperEnv))
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
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
	pool, err := pgxutil.NewPool(os.Getenv(helperDBEnv), pgxutil.PoolConfig{Schema: testSchema, ApplicationName: "consumer-crash-helper"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	conn, err := grpcDial(os.Getenv(helperSourceEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	name := os.Getenv(helperNameEnv)
	err = consumer.Run(ctx, consumer.Config{
		Name: name, Source: "trip", Client: eventsv1.NewEventStreamServiceClient(conn), Pool: pool,
		// Small batches: more commits for the kills to land on.
		MaxBatch: 4,
	}, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		// Slow enough that the test kills it mid-stream, often inside a transaction.
		time.Sleep(time.Millisecond)
		return recordEffect(ctx, tx, name, ev)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A consumer process killed with SIGKILL at random points during a stream of events,
// then restarted, has applied every event exactly once.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	src := newFakeSource("trip")
	srv := serveSource(t, src)
	const n, kills = 2000, 10
	src.addN(n, 13)
	name := "crashy"

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(),
			helperEnv+"=consume",
			helperDBEnv+"="+pool.Config().ConnString(),
			helperSourceEnv+"="+srv.addr,
			helperNameEnv+"="+name,
		)
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}

	midStream := 0
	last := int64(0)
	for i := range kills {
		cmd := start()
		// Kill it at a random point once it has applied something since the last kill.
		grpctest.Eventually(t, 30*time.Second, "progress", func() bool { return cursorSeq(t, pool, name, "trip") > last || last == n })
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		kill(cmd)
		seq := cursorSeq(t, pool, name, "trip")
		t.Logf("kill %d: cursor at %d of %d, %d effects", i+1, seq, n, count(t, pool, `SELECT count(*) FROM effects`))
		if seq < n {
			midStream++
		}
		last = seq
	}
	if midStream < kills/2 {
		t.Errorf("only %d of %d kills hit the consumer mid-stream", midStream, kills)
	}
	cmd := start()
	grpctest.Eventually(t, 60*time.Second, "all events applied after the restart", func() bool { return cursorSeq(t, pool, name, "trip") == n })
	kill(cmd)
	checkExactlyOnce(t, pool, name, n)
	if got := count(t, pool, `SELECT count(*) FROM parked_events`); got != 0 {
		t.Errorf("%d events parked", got)
	}
	t.Logf("%d subscriptions", src.subscribes.Load())
}
