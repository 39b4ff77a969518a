package eventstream_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/wrapperspb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/proccpu"
	"github.com/waybill/waybill/kit/txn"
)

// benchPayload is the size of every benchmark event's payload.
const benchPayload = 64

// latencies collects per-event latencies and reports their percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	b.ReportMetric(float64(at(0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(at(0.99).Nanoseconds()), "p99-ns")
}

// measure runs deliver 100 times to warm up, then b.N times, and reports the
// percentiles of the latencies it returns.
func measure(b *testing.B, deliver func() time.Duration) {
	for range 100 {
		deliver()
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		lat = append(lat, deliver())
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkEventDelivery measures one event's trip, one event at a time, from the
// producer's commit to its receipt. subscribe goes through the outbox, the sequencer,
// the reader and a gRPC Subscribe stream on loopback; raw_listen is the baseline
// (PERFORMANCE.md S1): INSERT a row, NOTIFY after the commit, a LISTEN connection
// wakes and SELECTs the new row, no gRPC and no sequencer.
func BenchmarkEventDelivery(b *testing.B) {
	b.Run("subscribe", func(b *testing.B) {
		e := newEnv(b, envOptions{})
		s := subscribe(b, e.client, &eventsv1.SubscribeRequest{})
		s.next(b, 10*time.Second) // live
		payload := wrapperspb.Bytes(make([]byte, benchPayload))
		deliver := func() time.Duration {
			e.emit(b, outbox.Event{Type: typeAdded, Key: "k", Payload: payload})
			committed := time.Now()
			s.events(b, 1)
			return time.Since(committed)
		}
		measure(b, deliver)
	})

	b.Run("raw_listen", func(b *testing.B) {
		ctx := context.Background()
		url := pgtest.NewURL(b, pgtest.Schemas{schema: migrations(b)})
		connect := func() *pgx.Conn {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.Close(context.Background()) })
			return conn
		}
		writer, listener := connect(), connect()
		if _, err := writer.Exec(ctx, "CREATE TABLE raw_event (id bigserial PRIMARY KEY, payload bytea NOT NULL)"); err != nil {
			b.Fatal(err)
		}
		if _, err := listener.Exec(ctx, "LISTEN raw_event"); err != nil {
			b.Fatal(err)
		}
		received := make(chan time.Time, 1)
		listenCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			var last int64
			for {
				if _, err := listener.WaitForNotification(listenCtx); err != nil {
					return
				}
				rows, _ := listener.Query(listenCtx, "SELECT id, payload FROM raw_event WHERE id > $1 ORDER BY id", last)
				for rows.Next() {
					var payload []byte
					if err := rows.Scan(&last, &payload); err != nil {
						break
					}
					received <- time.Now()
				}
				rows.Close()
				if err := rows.Err(); err != nil && listenCtx.Err() == nil {
					b.Error(err)
					return
				}
			}
		})
		defer func() { stop(); wg.Wait() }()
		payload := make([]byte, benchPayload)
		deliver := func() time.Duration {
			if _, err := writer.Exec(ctx, "INSERT INTO raw_event (payload) VALUES ($1)", payload); err != nil {
				b.Fatal(err)
			}
			committed := time.Now()
			if _, err := writer.Exec(ctx, "NOTIFY raw_event"); err != nil {
				b.Fatal(err)
			}
			select {
			case at := <-received:
				return at.Sub(committed)
			case <-time.After(10 * time.Second):
				b.Fatal("raw event not received")
			}
			return 0
		}
		measure(b, deliver)
	})
}

// BenchmarkWriteThroughput measures business transactions per second at 16 concurrent
// clients, each updating an aggregate row and emitting one event: no_wake without any
// sequencer or subscriber; polled with the sequencer on its poll and nothing woken;
// with_subscribers with the sequencer woken after each commit, the reader, and 4 gRPC
// subscribers on loopback draining the stream (PERFORMANCE.md S3); sequenced, in between,
// with the sequencer woken and the reader but no subscriber.
func BenchmarkWriteThroughput(b *testing.B) {
	const clients, keysPerClient = 16, 64
	setup := func(b *testing.B) *pgxpool.Pool {
		url := pgtest.NewURL(b, pgtest.Schemas{schema: migrations(b)})
		pool, err := pgxutil.Connect(context.Background(), url, pgxutil.PoolConfig{Schema: schema, MaxConns: clients + 8})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		_, err = pool.Exec(context.Background(), "INSERT INTO item (id) SELECT 'c' || c || '-' || k FROM generate_series(0, $1) c, generate_series(0, $2) k",
			clients-1, keysPerClient-1)
		if err != nil {
			b.Fatal(err)
		}
		return pool
	}
	// run drives b.N transactions from 16 clients; tx runs one of them for key.
	run := func(b *testing.B, tx func(ctx context.Context, key string) error) {
		ctx := context.Background()
		left := atomic.Int64{}
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		b.ResetTimer()
		self0, cpu0, _ := proccpu.TreeCPU(os.Getpid())
		start := time.Now()
		for c := range clients {
			wg.Go(func() {
				for i := 0; left.Add(-1) >= 0; i++ {
					if err := tx(ctx, fmt.Sprintf("c%d-%d", c, i%keysPerClient)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tx/s")
		// CPU of the whole run (writers, sequencer, reader, subscribers and PostgreSQL) per
		// transaction: S3 compared as CPU holds on a shared machine, where tx/s does not.
		self1, cpu1, _ := proccpu.TreeCPU(os.Getpid())
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-us/tx")
		b.ReportMetric(float64(self1-self0)/float64(time.Microsecond)/float64(b.N), "go-cpu-us/tx")
	}
	payload := wrapperspb.Bytes(make([]byte, benchPayload))
	// write is one business transaction (kit/txn, as services run them): it bumps key's
	// row and emits an event.
	write := func(ctx context.Context, runner *txn.Runner, key string) error {
		return runner.Run(ctx, func(tx *txn.Tx) error {
			if _, err := tx.Exec(ctx, "UPDATE item SET n = n + 1 WHERE id = $1", key); err != nil {
				return err
			}
			tx.Emit(outbox.Event{Type: typeBumped, Key: key, Payload: payload})
			return nil
		})
	}

	b.Run("no_wake", func(b *testing.B) {
		runner := txn.New(setup(b), txn.Options{})
		run(b, func(ctx context.Context, key string) error { return write(ctx, runner, key) })
	})

	// woken runs the writes with the env's Runner, which wakes the sequencer after each
	// commit, with the reader and subscribers gRPC subscribers draining the stream.
	woken := func(b *testing.B, subscribers int) {
		pool := setup(b)
		e := newEnv(b, envOptions{pool: pool})
		var batches, events atomic.Int64
		e.log.OnAppend(func(evs []outbox.Logged) {
			batches.Add(1)
			events.Add(int64(len(evs)))
		})
		drainCtx, stopDrain := context.WithCancel(context.Background())
		var drained sync.WaitGroup
		defer func() { stopDrain(); drained.Wait() }()
		for range subscribers {
			s := subscribe(b, e.client, &eventsv1.SubscribeRequest{})
			s.next(b, 10*time.Second)
			drained.Go(func() {
				for {
					select {
					case <-s.msgs:
					case <-drainCtx.Done():
						return
					}
				}
			})
		}
		run(b, func(ctx context.Context, key string) error { return write(ctx, e.txn, key) })
		b.ReportMetric(float64(events.Load())/float64(max(batches.Load(), 1)), "events/batch")
		if n := eventstream.Subscribers(e.reader); n != subscribers {
			b.Errorf("%d of %d subscribers still connected", n, subscribers)
		}
	}
	// polled sequences the same writes without waking anything: the sequencer finds them
	// on its poll (every 50 ms, so that at most 1% of the run's events are left for after
	// the measured window) and there are no subscribers. with_subscribers ÷ polled is the
	// cost of the wake-ups alone, the log's own writes being in both.
	b.Run("polled", func(b *testing.B) {
		pool := setup(b)
		newEnv(b, envOptions{pool: pool, log: outbox.Options{PollInterval: 50 * time.Millisecond}})
		runner := txn.New(pool, txn.Options{}) // no Notify: the sequencer is not woken
		run(b, func(ctx context.Context, key string) error { return write(ctx, runner, key) })
	})
	// sequenced isolates the sequencer's share of with_subscribers' cost.
	b.Run("sequenced", func(b *testing.B) { woken(b, 0) })
	b.Run("with_subscribers", func(b *testing.B) { woken(b, 4) })
}
