package outbox_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/proccpu"
)

// BenchmarkSequence measures the sequencer alone: b.N committed outbox rows (a 66-byte
// payload and a trace context, like a small service event) are moved to the log by
// Log.Sequence in batches of 40 (what a busy mesh's batches hold: docs/benchmarks.md) and
// of 1,000 (the default maximum, a backlog). It reports the CPU of the sequencer's one
// PostgreSQL backend per event (backend-us/event, read from /proc: the serial cost that
// bounds a schema's event rate, docs/scaling.md §5) and of this process (go-us/event:
// decoding the rows for the hand-over). event_id_unique re-creates the unique index on
// event_log.event_id that migration 0101 dropped, as the same-run baseline.
//
//	go test -run '^$' -bench BenchmarkSequence -benchtime 50000x ./kit/outbox/
func BenchmarkSequence(b *testing.B) {
	for _, batch := range []int{40, 1000} {
		for _, index := range []bool{false, true} {
			name := fmt.Sprintf("batch_%d", batch)
			if index {
				name += "/event_id_unique"
			} else {
				name += "/current"
			}
			b.Run(name, func(b *testing.B) { benchSequence(b, batch, index) })
		}
	}
}

func benchSequence(b *testing.B, batch int, index bool) {
	ctx := context.Background()
	base := pgtest.NewDB(b, schema, migrations(b))
	if index {
		if _, err := base.Exec(ctx, "ALTER TABLE event_log ADD CONSTRAINT event_log_event_id_key UNIQUE (event_id)"); err != nil {
			b.Fatal(err)
		}
	}
	cfg := base.Config().Copy()
	cfg.MaxConns = 1 // one backend does every batch, as under the schema's advisory lock
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	var backend int
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		b.Fatal(err)
	}
	const fillSQL = `INSERT INTO outbox (type, key, payload_type, payload, trace_context)
		SELECT 'booking.reservation.held', md5(i::text), 'type.googleapis.com/waybill.booking.v1.Reservation',
		       decode(repeat('ab', 66), 'hex'), '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'::jsonb
		FROM generate_series(1, $1) i`
	if _, err := base.Exec(ctx, fillSQL, b.N); err != nil {
		b.Fatal(err)
	}
	if _, err := base.Exec(ctx, "VACUUM ANALYZE outbox"); err != nil {
		b.Fatal(err)
	}
	log := outbox.New(pool, schema, outbox.Options{BatchSize: batch})
	b.ResetTimer()
	pg0, go0, start := procCPU(b, backend), procCPU(b, os.Getpid()), time.Now()
	moved, err := log.Sequence(ctx)
	elapsed := time.Since(start)
	pg1, go1 := procCPU(b, backend), procCPU(b, os.Getpid())
	b.StopTimer()
	if err != nil || moved != b.N {
		b.Fatalf("moved %d of %d events: %v", moved, b.N, err)
	}
	perEvent := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(b.N) }
	b.ReportMetric(perEvent(pg1-pg0), "backend-us/event")
	b.ReportMetric(perEvent(go1-go0), "go-us/event")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// procCPU is the CPU time process pid has used so far.
func procCPU(b *testing.B, pid int) time.Duration {
	st, err := proccpu.Read(pid)
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	return st.CPU
}
