package outbox_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/outbox"
)

// TestRunRetriesAfterErrors: while the sequencer's statement fails (its head table is
// gone), Run logs each failure and tries again after a delay that grows from about 50 ms
// (jittered by half either way, doubling each time); once the table is back, the next
// try moves the event that waited.
func TestRunRetriesAfterErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	retries := make(retryLog, 100)
	pool, log := newLog(t, outbox.Options{PollInterval: time.Hour, Logger: slog.New(retries)})
	if _, err := pool.Exec(ctx, `ALTER TABLE shop.event_log_head RENAME TO event_log_head_away`); err != nil {
		t.Fatal(err)
	}
	defer run(t, log)()
	for i := range 4 {
		select {
		case d := <-retries:
			want := 50 * time.Millisecond << i
			if d < want/2 || d > want*3/2 {
				t.Errorf("retry %d after %v, want %v ± 50%%", i+1, d, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Run logged %d failed tries in 10 s, want 4", i)
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `ALTER TABLE shop.event_log_head_away RENAME TO event_log_head`); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Emit(ctx, tx, outbox.Event{Type: "shop.item.added", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// No Notify and an hour's poll interval: only a retry can move the event.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var last int64
		if err := pool.QueryRow(ctx, `SELECT last_seq FROM shop.event_log_head`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		if last == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not move the event within 10 s of the table's return")
		}
	}
}

// retryLog is a slog handler that passes on the retry_in delay of each logged failure.
type retryLog chan time.Duration

func (r retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (r retryLog) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r retryLog) WithGroup(string) slog.Handler            { return r }

func (r retryLog) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "retry_in" {
			select {
			case r <- a.Value.Duration():
			default:
			}
		}
		return true
	})
	return nil
}
