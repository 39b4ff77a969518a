package idempotencypg_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
)

// complete records a leased call's outcome as payment does after the processor
// answered: the change and the key's result in one transaction.
func (f *fixture) complete(ctx context.Context, c *idempotencypg.Claim, result string) error {
	return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO item (id) VALUES ($1)", result); err != nil {
			return err
		}
		return c.Complete(ctx, tx, []byte(result))
	})
}

func (f *fixture) acquire(k idempotency.Key, memo string) (*idempotencypg.Claim, error) {
	return f.keys.Acquire(f.t.Context(), f.pool, k, []byte(memo))
}

func TestLeaseCompleteAndReplay(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("billing", "cap-1", "pay-1", "500")
	c, err := f.acquire(k, "op-1")
	if err != nil || c.Replayed || c.Recovered || string(c.Memo) != "op-1" {
		t.Fatalf("Acquire = %+v, %v; want a fresh claim with its memo", c, err)
	}
	// While it is in flight, a retry is ABORTED and changes nothing.
	_, err = f.acquire(k, "op-2")
	wantErr(t, err, errs.Aborted, idempotency.ReasonRequestInProgress, "")
	// Other parameters are refused even in flight.
	_, err = f.acquire(key("billing", "cap-1", "pay-1", "600"), "op-3")
	wantErr(t, err, errs.InvalidArgument, idempotency.ReasonRequestIDReused, "request_id")

	if err := f.complete(ctx, c, "captured"); err != nil {
		t.Fatal(err)
	}
	r, err := f.acquire(k, "op-4")
	if err != nil || !r.Replayed || string(r.Result) != "captured" || string(r.Memo) != "op-1" || r.Pending {
		t.Fatalf("retry = %+v, %v; want the replay of captured with the first memo", r, err)
	}
	if err := c.Complete(ctx, f.pool, []byte("again")); err == nil {
		t.Error("a claim completed twice")
	}
}

// TestLeaseTakeOver: a key whose attempt ran out of lease is taken over, with the first
// attempt's memo; the first attempt then cannot complete it.
func TestLeaseTakeOver(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("billing", "cap-1", "p")
	first, err := f.acquire(k, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(idempotency.DefaultLease - time.Second)
	if _, err := f.acquire(k, "op-2"); !errors.Is(err, idempotency.ErrRequestInProgress) {
		t.Fatalf("within the lease: %v, want REQUEST_IN_PROGRESS", err)
	}
	f.clock.Advance(2 * time.Second)
	second, err := f.acquire(k, "op-2")
	if err != nil || !second.Recovered || second.Replayed || string(second.Memo) != "op-1" {
		t.Fatalf("after the lease = %+v, %v; want a recovered claim with memo op-1", second, err)
	}
	// The taken-over key is held anew: a third attempt is refused.
	if _, err := f.acquire(k, "op-3"); !errors.Is(err, idempotency.ErrRequestInProgress) {
		t.Fatalf("third attempt: %v, want REQUEST_IN_PROGRESS", err)
	}
	// The first attempt lost the key: its outcome is not recorded.
	err = f.complete(ctx, first, "first")
	wantErr(t, err, errs.Aborted, idempotency.ReasonRequestInProgress, "")
	if f.items() != 0 {
		t.Fatalf("the first attempt's transaction committed %d items", f.items())
	}
	if err := f.complete(ctx, second, "second"); err != nil {
		t.Fatal(err)
	}
	if r, err := f.acquire(k, "op-4"); err != nil || string(r.Result) != "second" {
		t.Fatalf("replay = %+v, %v; want second", r, err)
	}
}

// TestLeaseAbandon: abandoning a fresh key deletes it (a retry starts afresh); abandoning
// a taken-over key keeps its memo and ends its lease at once (a retry takes it over).
func TestLeaseAbandon(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("billing", "cap-1", "p")
	c, err := f.acquire(k, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel() // Abandon runs after the request ended too
	if err := c.Abandon(cancelled, f.pool); err != nil {
		t.Fatal(err)
	}
	if f.keyRows() != 0 {
		t.Fatalf("%d keys after abandoning a fresh key, want 0", f.keyRows())
	}
	c, err = f.acquire(k, "op-2")
	if err != nil || c.Recovered || string(c.Memo) != "op-2" {
		t.Fatalf("after abandon = %+v, %v; want a fresh claim", c, err)
	}

	f.clock.Advance(idempotency.DefaultLease + time.Second)
	r, err := f.acquire(k, "op-3")
	if err != nil || !r.Recovered {
		t.Fatalf("take-over = %+v, %v", r, err)
	}
	if err := r.Abandon(ctx, f.pool); err != nil {
		t.Fatal(err)
	}
	// No time passes: the abandoned take-over's lease has ended.
	r2, err := f.acquire(k, "op-4")
	if err != nil || !r2.Recovered || string(r2.Memo) != "op-2" {
		t.Fatalf("after abandoning a take-over = %+v, %v; want a recovered claim with memo op-2", r2, err)
	}
	// Abandoning a claim another attempt took over changes nothing.
	if err := c.Abandon(ctx, f.pool); err != nil {
		t.Fatal(err)
	}
	if f.keyRows() != 1 {
		t.Fatalf("a stale abandon deleted the key")
	}
	if err := f.complete(ctx, r2, "done"); err != nil {
		t.Fatal(err)
	}
}

// TestLeasePendingAndResolve: a result stored as pending is replayed as Pending until it
// is resolved; an error result can be stored from the pool.
func TestLeasePendingAndResolve(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := key("billing", "cap-1", "p")
	c, err := f.acquire(k, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CompletePending(ctx, f.pool, []byte("unknown")); err != nil {
		t.Fatal(err)
	}
	r, err := f.acquire(k, "")
	if err != nil || !r.Replayed || !r.Pending || string(r.Result) != "unknown" {
		t.Fatalf("replay = %+v, %v; want a pending replay", r, err)
	}
	if err := r.Resolve(ctx, f.pool, []byte("captured")); err != nil {
		t.Fatal(err)
	}
	r, err = f.acquire(k, "")
	if err != nil || r.Pending || string(r.Result) != "captured" {
		t.Fatalf("replay after Resolve = %+v, %v; want captured", r, err)
	}
	if err := r.Resolve(ctx, f.pool, []byte("x")); err == nil {
		t.Error("Resolve of a resolved result succeeded")
	}

	// A declined call stores its error as the result, from the pool.
	d, err := f.acquire(key("billing", "cap-2", "p"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Complete(ctx, f.pool, []byte("declined")); err != nil {
		t.Fatal(err)
	}
	if r, err := f.acquire(key("billing", "cap-2", "p"), ""); err != nil || string(r.Result) != "declined" {
		t.Fatalf("replay of the error = %+v, %v", r, err)
	}
}

// TestLeaseExpiry: after the TTL a leased key is claimed afresh, whatever its state.
func TestLeaseExpiry(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	done, err := f.acquire(key("billing", "done", "p"), "op-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.complete(ctx, done, "first"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.acquire(key("billing", "stuck", "p"), "op-2"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(idempotency.DefaultTTL + time.Second)
	for _, id := range []string{"done", "stuck"} {
		c, err := f.acquire(key("billing", id, "other"), "op-3")
		if err != nil || c.Replayed || c.Recovered || string(c.Memo) != "op-3" {
			t.Errorf("%s after the TTL = %+v, %v; want a fresh claim", id, c, err)
		}
	}
}

// TestLeaseAsPlainValue: a claim handed to a domain as an idempotency.Lease and resumed
// by the store (Keys.Resume) is the same hold on its key: it completes, abandons and
// resolves as the claim would, and a lease whose attempt was taken over changes nothing.
func TestLeaseAsPlainValue(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	resume := func(c *idempotencypg.Claim) *idempotencypg.Claim { return f.keys.Resume(c.Lease()) }

	// Abandoned through its value: a fresh key is deleted.
	k := key("billing", "cap-1", "p")
	c, err := f.acquire(k, "op-1")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lease()
	if l.Key.RequestID != "cap-1" || l.Lock == "" || l.Replayed || l.Recovered || string(l.Memo) != "op-1" {
		t.Fatalf("Lease() = %+v; want the fresh claim's key, lock and memo", l)
	}
	if err := f.keys.Resume(l).Abandon(ctx, f.pool); err != nil {
		t.Fatal(err)
	}
	if f.keyRows() != 0 {
		t.Fatalf("%d keys after abandoning a resumed fresh lease, want 0", f.keyRows())
	}

	// Taken over: the first attempt's value neither completes nor abandons the key; the
	// second attempt's value completes it.
	first, err := f.acquire(k, "op-2")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(idempotency.DefaultLease + time.Second)
	second, err := f.acquire(k, "op-3")
	if err != nil || !second.Recovered || !second.Lease().Recovered || string(second.Lease().Memo) != "op-2" {
		t.Fatalf("take-over = %+v, %v; want a recovered claim with memo op-2", second, err)
	}
	err = f.complete(ctx, resume(first), "first")
	wantErr(t, err, errs.Aborted, idempotency.ReasonRequestInProgress, "")
	if err := resume(first).Abandon(ctx, f.pool); err != nil || f.keyRows() != 1 {
		t.Fatalf("a stale abandon: %v, %d keys; want the key kept", err, f.keyRows())
	}
	if err := f.complete(ctx, resume(second), "second"); err != nil {
		t.Fatal(err)
	}
	// A completed key is not abandoned by its (now stale) value.
	if err := resume(second).Abandon(ctx, f.pool); err != nil {
		t.Fatal(err)
	}
	r, err := f.acquire(k, "op-4")
	if err != nil || !r.Replayed || string(r.Lease().Result) != "second" {
		t.Fatalf("replay = %+v, %v; want second", r, err)
	}

	// A pending result is resolved through a replay's value.
	p := key("billing", "cap-2", "p")
	c, err = f.acquire(p, "op-5")
	if err != nil {
		t.Fatal(err)
	}
	if err := resume(c).CompletePending(ctx, f.pool, []byte("unknown")); err != nil {
		t.Fatal(err)
	}
	r, err = f.acquire(p, "")
	if err != nil || !r.Lease().Pending {
		t.Fatalf("replay = %+v, %v; want a pending replay", r, err)
	}
	if err := resume(r).Resolve(ctx, f.pool, []byte("captured")); err != nil {
		t.Fatal(err)
	}
	if r, err := f.acquire(p, ""); err != nil || r.Pending || string(r.Result) != "captured" {
		t.Fatalf("replay after Resolve = %+v, %v; want captured", r, err)
	}

	// A keyless lease holds nothing: completing it stores nothing.
	kl, err := f.acquire(idempotency.Key{Method: "M", Subject: "s"}, "m")
	if err != nil {
		t.Fatal(err)
	}
	rows := f.keyRows()
	if err := resume(kl).Complete(ctx, f.pool, []byte("x")); err != nil || f.keyRows() != rows {
		t.Fatalf("keyless Complete: %v, %d keys (was %d)", err, f.keyRows(), rows)
	}
}
