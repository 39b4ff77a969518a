package txn_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// BenchmarkUpdateAndEmit measures whether pipelining pays: one transaction that updates
// a row and emits one event, through Runner.Run (BEGIN sent with the UPDATE, the outbox
// insert with COMMIT: 2 round trips) and through a plain pgx.Tx (pgx.BeginFunc, pgxutil.Retry and
// outbox.Emit, as fare and payment did: 4 round trips), one after the other in the same
// run and database, alternating operation by operation, serially and from 8 goroutines
// at once. ns/op is one operation of each way; txn-ns/op and pgx-ns/op are each way's
// mean latency; roundtrips/op counts the client's writes to the server's socket.
//
//	go test -run '^$' -bench . -count 3 ./kit/txn/
func BenchmarkUpdateAndEmit(b *testing.B) {
	url := pgtest.NewURL(b, pgtest.Schemas{schema: migrations()})
	var writes atomic.Int64
	pool := countingPool(b, url, &writes)
	if _, err := pool.Exec(b.Context(), "INSERT INTO item (id) SELECT 'p' || i FROM generate_series(0, 63) i"); err != nil {
		b.Fatal(err)
	}
	notify := func() {}
	runner := txn.New(pool, txn.Options{Notify: notify})
	ways := []struct {
		name string
		tx   func(ctx context.Context, id string) error
	}{
		{"txn", func(ctx context.Context, id string) error {
			return runner.Run(ctx, func(tx *txn.Tx) error {
				if _, err := tx.Exec(ctx, bump, id); err != nil {
					return err
				}
				tx.Emit(added(id))
				return nil
			})
		}},
		{"pgx", func(ctx context.Context, id string) error {
			err := pgxutil.Retry(ctx, txn.DefaultMaxRetries, func() error {
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, bump, id); err != nil {
						return err
					}
					return outbox.Emit(ctx, tx, added(id))
				})
			})
			if err != nil {
				return pgxutil.MapError(err)
			}
			notify()
			return nil
		}},
	}
	// Each iteration runs both ways, in alternating order, so that both see the same
	// load on this shared machine; each way's time and round trips are reported.
	report := func(b *testing.B, nanos, trips *[2]atomic.Int64) {
		for i, w := range ways {
			b.ReportMetric(float64(nanos[i].Load())/float64(b.N), w.name+"-ns/op")
			if trips != nil {
				b.ReportMetric(float64(trips[i].Load())/float64(b.N), w.name+"-roundtrips/op")
			}
		}
	}
	b.Run("serial", func(b *testing.B) {
		ctx := b.Context()
		for _, w := range ways { // prepares the statements
			if err := w.tx(ctx, "a"); err != nil {
				b.Fatal(err)
			}
		}
		var nanos, trips [2]atomic.Int64
		n := 0
		for b.Loop() {
			n++
			for k := range ways {
				i := (k + n) % 2
				w0, t0 := writes.Load(), time.Now()
				if err := ways[i].tx(ctx, "a"); err != nil {
					b.Fatal(err)
				}
				nanos[i].Add(int64(time.Since(t0)))
				trips[i].Add(writes.Load() - w0)
			}
		}
		report(b, &nanos, &trips)
	})
	b.Run("parallel8", func(b *testing.B) {
		ctx := b.Context()
		var next atomic.Int32
		var nanos [2]atomic.Int64
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 goroutines
		b.RunParallel(func(pb *testing.PB) {
			g := int(next.Add(1))
			id := fmt.Sprintf("p%d", g%64) // a row of its own: no lock waits
			for n := g; pb.Next(); n++ {
				for k := range ways {
					i := (k + n) % 2
					t0 := time.Now()
					if err := ways[i].tx(ctx, id); err != nil {
						b.Error(err)
						return
					}
					nanos[i].Add(int64(time.Since(t0)))
				}
			}
		})
		report(b, &nanos, nil)
	})
}

// countingPool is a pool of 8 connections on url's database, search_path schema, that
// counts every write to a server's socket in writes.
func countingPool(b *testing.B, url string, writes *atomic.Int64) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, writes: writes}, nil
	}
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// countingConn counts its writes: pgx writes each round trip's messages at once.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
