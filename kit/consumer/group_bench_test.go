package consumer_test

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/proccpu"
	"github.com/waybill/waybill/kit/txn"
)

// Run with, for example (each -count runs the three cases once, in turn, so that their
// ratios come from neighbouring runs on a shared machine):
//
//	go test -run '^$' -bench GroupDrain -benchtime 1x -count 5 ./kit/consumer/

const (
	groupBacklog    = 1500 // events in the backlog
	groupPartitions = 16
	groupKeys       = 500
)

// groupHandlerWork is the handler's CPU work per event, in SHA-256 blocks (about 0.11 µs
// of CPU each here): 16,000 is about 1.8 ms, a handler that decodes, validates and
// computes before its write. WAYBILL_BENCH_HANDLER_WORK overrides it (4000 ≈ 0.45 ms).
var groupHandlerWork = func() int {
	if n, err := strconv.Atoi(os.Getenv("WAYBILL_BENCH_HANDLER_WORK")); err == nil && n >= 0 {
		return n
	}
	return 16000
}()

// processCPU returns the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPU returns the CPU time (user and system) the processes of cmds have used.
func childrenCPU(cmds []*exec.Cmd) time.Duration {
	var total time.Duration
	for _, cmd := range cmds {
		if st, err := proccpu.Read(cmd.Process.Pid); err == nil {
			total += st.CPU
		}
	}
	return total
}

// burn does n SHA-256 blocks of CPU work and returns a byte of the result, so the
// compiler keeps it.
func burn(n int) byte {
	var sum [32]byte
	for range n {
		sum = sha256.Sum256(sum[:])
	}
	return sum[0]
}

// BenchmarkGroupDrain measures how fast a consumer group drains a backlog through the real
// stack (outbox, sequencer, reader, Subscribe over loopback gRPC, consumer) with a handler
// that costs CPU (about 1.8 ms per event when it has a core; see groupHandlerWork) and writes a row:
// one member, two members, and, for comparison, the consumer without a group. The members
// settle on their partitions before the backlog is committed, and the drain time runs from
// the backlog's first commit until every event's effect has committed.
//
// In process, the members are goroutines of the benchmark's process (one Run each, with
// its own connection). As processes, each member is a process of its own in a session of
// its own, as replicas in pods are: where the kernel shares the CPU between sessions
// (autogroups, as on a shared machine), a process gets its session's share however many
// goroutines it runs, so only members in processes of their own can use more CPU there.
func BenchmarkGroupDrain(b *testing.B) {
	b.Run("in-process/group=none", func(b *testing.B) { benchmarkGroupDrain(b, 0, false) })
	b.Run("in-process/members=1", func(b *testing.B) { benchmarkGroupDrain(b, 1, false) })
	b.Run("in-process/members=2", func(b *testing.B) { benchmarkGroupDrain(b, 2, false) })
	b.Run("processes/members=1", func(b *testing.B) { benchmarkGroupDrain(b, 1, true) })
	b.Run("processes/members=2", func(b *testing.B) { benchmarkGroupDrain(b, 2, true) })
}

func benchmarkGroupDrain(b *testing.B, members int, processes bool) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		s := newStack(b)
		name := "drain"
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, max(members, 1))
		runs := max(members, 1)
		var cmds []*exec.Cmd
		for i := range runs {
			member := "m" + strconv.Itoa(i)
			if processes {
				cmd := exec.Command(exe, "-test.run=^$")
				cmd.Env = append(os.Environ(),
					helperEnv+"=member",
					helperDBEnv+"="+s.url,
					helperSourceEnv+"="+s.addr,
					helperNameEnv+"="+name,
					helperMemberEnv+"="+member,
					helperPartitionsEnv+"="+strconv.Itoa(groupPartitions),
					helperLeaseEnv+"=3s",
					helperBurnEnv+"="+strconv.Itoa(groupHandlerWork),
					helperMaxBatchEnv+"=0",
					helperAuthEnv+"=1",
				)
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				cmd.Stderr = testWriter{b}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				cmds = append(cmds, cmd)
				continue
			}
			cfg := consumer.Config{Name: name, Source: producerSchema, Client: client(b, s.addr, stackAuth), Pool: s.consumer}
			if members > 0 {
				cfg.Group = consumer.Group{Partitions: groupPartitions, Member: member, Lease: 3 * time.Second}
			}
			go func() {
				done <- consumer.Run(ctx, cfg, func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
					burn(groupHandlerWork)
					return recordMemberEffect(ctx, tx, name, member, ev)
				})
			}()
		}
		if members > 0 {
			// Wait until the members share the partitions evenly.
			deadline := time.Now().Add(30 * time.Second)
			for {
				owners := map[string]int{}
				ps, err := consumer.Partitions(ctx, s.consumer, name, producerSchema)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range ps {
					owners[p.Owner]++
				}
				if len(ps) == groupPartitions && len(owners) == members && owners[""] == 0 && owners["m0"] == groupPartitions/members {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("the members did not settle: %v", owners)
				}
				time.Sleep(50 * time.Millisecond)
			}
		} else {
			time.Sleep(200 * time.Millisecond) // subscribed
		}

		b.StartTimer()
		cpu0 := processCPU()
		members0 := childrenCPU(cmds)
		start := time.Now()
		// The backlog: transactions of 100 events each, on random keys.
		for committed := 0; committed < groupBacklog; committed += 100 {
			err := s.txn.Run(ctx, func(tx *txn.Tx) error {
				for j := range 100 {
					tx.Emit(outbox.Event{Type: itemChanged, Key: "k" + strconv.Itoa(rand.IntN(groupKeys)),
						Payload: wrapperspb.Int64(int64(committed + j))})
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		produced := time.Since(start)
		for count(b, s.consumer, `SELECT count(*) FROM effects`) < groupBacklog {
			if time.Since(start) > 2*time.Minute {
				b.Fatal("the backlog did not drain within 2 minutes")
			}
			time.Sleep(10 * time.Millisecond)
		}
		drained := time.Since(start)
		cpu := processCPU() - cpu0 // with processes: the producer's side only
		memberCPU := childrenCPU(cmds) - members0
		b.StopTimer()
		cancel()
		if processes {
			for _, cmd := range cmds {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				if err := cmd.Wait(); err != nil {
					b.Errorf("member process: %v", err)
				}
			}
		} else {
			for range runs {
				if err := <-done; err != nil {
					b.Error(err)
				}
			}
		}
		if got := count(b, s.consumer, `SELECT count(DISTINCT seq) FROM effects`); got != groupBacklog {
			b.Fatalf("%d distinct events applied, want %d", got, groupBacklog)
		}
		b.ReportMetric(float64(groupBacklog)/drained.Seconds(), "drain-events/s")
		b.ReportMetric(drained.Seconds()*1000, "drain-ms")
		b.ReportMetric(produced.Seconds()*1000, "produce-ms")
		// The test process's CPU (members, and the producer's sequencer, reader and
		// server; not PostgreSQL's) per event: what the group costs beyond the handler.
		b.ReportMetric(float64(cpu.Microseconds())/groupBacklog, "proc-cpu-us/event")
		if processes {
			// The member processes' CPU per event, and how many cores they used on average.
			b.ReportMetric(float64(memberCPU.Microseconds())/groupBacklog, "member-cpu-us/event")
			b.ReportMetric(memberCPU.Seconds()/drained.Seconds(), "member-cores")
		}
		b.StartTimer()
	}
}
