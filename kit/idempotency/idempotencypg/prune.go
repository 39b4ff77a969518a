package idempotencypg

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/waybill/waybill/kit/pgxutil"
)

// pruneBatch bounds the rows one Prune statement deletes, so no statement holds many
// locks or runs long.
const pruneBatch = 5000

const pruneSQL = `DELETE FROM idempotency_keys WHERE (method, subject, request_id) IN (
    SELECT method, subject, request_id FROM idempotency_keys WHERE create_time <= $1 LIMIT $2)`

// Prune deletes the keys older than the TTL, in statements of at most 5,000 rows, and
// returns how many it deleted. An expired key is reusable before Prune deletes it (a
// claim replaces it); Prune only keeps the table small. Run it periodically (hourly,
// say) on the pool.
func (ks *Keys) Prune(ctx context.Context, db Querier) (int64, error) {
	before := ks.now().Add(-ks.opts.TTL)
	var total int64
	for {
		tag, err := db.Exec(ctx, pruneSQL, before, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", pgxutil.MapError(err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}

// DefaultPruneInterval is how often PruneEvery prunes.
const DefaultPruneInterval = time.Hour

// PruneEvery runs Prune on db every interval (DefaultPruneInterval when not positive)
// until ctx ends, logging failures on log (nil discards them). A service's composition
// root starts it once its tables exist: `go keys.PruneEvery(ctx, pool, 0, logger)`.
func (ks *Keys) PruneEvery(ctx context.Context, db Querier, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultPruneInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := ks.Prune(ctx, db)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prune idempotency keys", slog.Any("error", err))
		case n > 0:
			log.Info("pruned idempotency keys", slog.Int64("keys", n))
		}
	}
}
