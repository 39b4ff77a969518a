package idempotency

import (
	"context"
	"log/slog"
	"time"
)

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
