package outbox_test

import (
	"testing"

	"github.com/waybill/waybill/kit/outbox"
)

// Head is the last sequence appended: 0 on an empty log, and it counts only what the
// sequencer moved.
func TestHead(t *testing.T) {
	t.Parallel()
	pool, log := newLog(t, outbox.Options{})
	ctx := t.Context()
	if seq, err := log.Head(ctx); err != nil || seq != 0 {
		t.Fatalf("head of an empty log: %d, %v; want 0", seq, err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Emit(ctx, tx, outbox.Event{Type: "test.item.changed", Key: "a"}, outbox.Event{Type: "test.item.changed", Key: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if seq, err := log.Head(ctx); err != nil || seq != 0 {
		t.Fatalf("head before the sequencer ran: %d, %v; want 0", seq, err)
	}
	if _, err := log.Sequence(ctx); err != nil {
		t.Fatal(err)
	}
	if seq, err := log.Head(ctx); err != nil || seq != 2 {
		t.Fatalf("head after two events: %d, %v; want 2", seq, err)
	}
}
