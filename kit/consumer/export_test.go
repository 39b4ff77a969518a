package consumer

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/txn"
)

// Delays returns the first n delays of b's backoff policy, unspread.
func Delays(b Backoff, n int) []time.Duration {
	e := b.exponential(0)
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = e.NextBackOff()
	}
	return d
}

// SpreadDelays returns the first n delays of b's backoff policy as Run's reconnections
// spread them.
func SpreadDelays(b Backoff, n int) []time.Duration {
	e := b.exponential(spread)
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = e.NextBackOff()
	}
	return d
}

// ErrLeaseLost is the error a group member's transaction fails with when one of its
// partitions' leases no longer names it with the epoch it acquired.
var ErrLeaseLost = errLeaseLost

// ApplyAsMember applies events in one transaction, as Run's batches are, as member
// cfg.Group.Member believing it holds the partitions of epochs (partition → epoch), without
// renewing or claiming any lease. Each event's cursor is its decimal sequence.
func ApplyAsMember(ctx context.Context, cfg Config, epochs map[int]int64, events []*eventsv1.Event, h Handler) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	c := &consumer{cfg: cfg, h: h, log: cfg.Logger, tracer: newTracer(cfg.TracerProvider), tx: txn.New(cfg.Pool, txn.Options{})}
	if c.metrics, err = newMetrics(cfg, &c.lag); err != nil {
		return err
	}
	defer c.metrics.close()
	c.group = newGroup(cfg)
	if err := c.group.ensure(ctx); err != nil {
		return err
	}
	c.group.set(epochs)
	c.owned = c.group.snapshot()
	batch := make([]*eventsv1.SubscribeResponse, len(events))
	for i, ev := range events {
		batch[i] = &eventsv1.SubscribeResponse{Event: ev, Cursor: strconv.FormatInt(ev.GetSequence(), 10)}
	}
	return c.applyTx(ctx, batch, nil)
}

// Claim takes over the partitions among parts that are free and not being applied, for
// member, as a member's lease renewal does, and returns those it took with their new
// epochs.
func Claim(ctx context.Context, pool *pgxpool.Pool, name, source, member string, parts []int, lease time.Duration) (map[int]int64, error) {
	rows, err := pool.Query(ctx, claimSQL, name, source, member, parts, lease.Microseconds())
	if err != nil {
		return nil, err
	}
	got := map[int]int64{}
	return got, collectEpochs(rows, got)
}
