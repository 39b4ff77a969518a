package idempotencypg_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/pgtest"
)

// BenchmarkClaim measures what a fresh key adds to a small transaction (BEGIN, one
// INSERT, COMMIT), run one at a time on one connection:
//
//   - none: the transaction without a key;
//   - Do: Begin and Complete, two more statements (two round trips);
//   - BeginWith: one more statement (one round trip);
//   - QueueWith: the claim in the same pipelined batch as the INSERT (no round trip);
//   - Queue+QueueComplete: both statements pipelined with the change (no round trip).
func BenchmarkClaim(b *testing.B) {
	pool := pgtest.NewDB(b, schema, migrations())
	keys := idempotencypg.New(idempotencypg.Options{})
	ctx := context.Background()
	n := 0
	next := func() (string, idempotency.Key) {
		n++
		id := fmt.Sprintf("item-%d", n)
		return id, key("alice", id, "p")
	}
	insert := "INSERT INTO item (id) VALUES ($1)"
	cases := []struct {
		name string
		tx   func(tx pgx.Tx) error
	}{
		{"none", func(tx pgx.Tx) error {
			id, _ := next()
			_, err := tx.Exec(ctx, insert, id)
			return err
		}},
		{"none-batch", func(tx pgx.Tx) error {
			id, _ := next()
			bt := &pgx.Batch{}
			bt.Queue(insert, id)
			return tx.SendBatch(ctx, bt).Close()
		}},
		{"Do", func(tx pgx.Tx) error {
			id, k := next()
			_, _, err := idempotencypg.Do(ctx, keys, tx, k, func() (string, error) {
				_, err := tx.Exec(ctx, insert, id)
				return id, err
			})
			return err
		}},
		{"BeginWith", func(tx pgx.Tx) error {
			id, k := next()
			if _, err := keys.BeginWith(ctx, tx, k, []byte(id)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, insert, id)
			return err
		}},
		{"QueueWith", func(tx pgx.Tx) error {
			id, k := next()
			bt := &pgx.Batch{}
			q := keys.QueueWith(bt, k, []byte(id))
			bt.Queue(insert, id)
			br := tx.SendBatch(ctx, bt)
			if _, err := q.Read(br); err != nil {
				br.Close()
				return err
			}
			return br.Close()
		}},
		{"Queue+QueueComplete", func(tx pgx.Tx) error {
			id, k := next()
			bt := &pgx.Batch{}
			q := keys.Queue(bt, k)
			bt.Queue(insert, id)
			br := tx.SendBatch(ctx, bt)
			c, err := q.Read(br)
			if err != nil {
				br.Close()
				return err
			}
			if err := br.Close(); err != nil {
				return err
			}
			// A batch of its own here; with kit/txn it would ride with COMMIT.
			bt = &pgx.Batch{}
			if err := c.QueueComplete(bt, []byte(id)); err != nil {
				return err
			}
			return tx.SendBatch(ctx, bt).Close()
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			conn := acquire(b, pool)
			for b.Loop() {
				if err := pgx.BeginFunc(ctx, conn, c.tx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The same transactions in turn, so that every case meets the same noise from
	// other processes: each reports its mean as <case>-µs/tx.
	b.Run("interleaved", func(b *testing.B) {
		conn := acquire(b, pool)
		spent := make([]time.Duration, len(cases))
		for b.Loop() {
			for i, c := range cases {
				start := time.Now()
				if err := pgx.BeginFunc(ctx, conn, c.tx); err != nil {
					b.Fatal(err)
				}
				spent[i] += time.Since(start)
			}
		}
		for i, c := range cases {
			b.ReportMetric(float64(spent[i].Microseconds())/float64(b.N), c.name+"-µs/tx")
		}
		b.ReportMetric(0, "ns/op")
	})
}

func acquire(b *testing.B, pool *pgxpool.Pool) *pgxpool.Conn {
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(conn.Release)
	return conn
}
