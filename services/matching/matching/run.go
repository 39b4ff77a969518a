package matching

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// RunOptions configures Service.Run.
type RunOptions struct {
	// FlushInterval is how often accepted fixes are written to storage, in one batch.
	FlushInterval time.Duration
	// SweepInterval is how often stale fixes are taken out of the index's tree.
	SweepInterval time.Duration
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
	// Rebuilt, when set, is called once the index has been rebuilt.
	Rebuilt func()
}

// Rebuild loads every tracked driver and their last stored fix into the index: what a
// restarted or second replica starts from. Fixes newer in the index are kept.
func (s *Service) Rebuild(ctx context.Context) (int, error) {
	ts, err := s.store.TrackedDrivers(ctx)
	if err != nil {
		return 0, fmt.Errorf("rebuild the driver index: %w", err)
	}
	for _, t := range ts {
		s.index.Apply(t)
	}
	return len(ts), nil
}

// syncSlack is how far back Sync rereads changes beyond its last read: writers'
// clocks and commit order differ a little, and an older version changes nothing.
const syncSlack = 5 * time.Second

// Sync applies to the index the drivers' changes stored since the last sync (since,
// which it advances): statuses and products other replicas changed. It returns how many
// drivers it read.
func (s *Service) Sync(ctx context.Context, since *time.Time) (int, error) {
	at := s.clock()
	ts, err := s.store.ChangedDrivers(ctx, since.Add(-syncSlack))
	if err != nil {
		return 0, fmt.Errorf("sync the driver index: %w", err)
	}
	for _, t := range ts {
		s.index.Apply(t)
	}
	*since = at
	return len(ts), nil
}

// Flush writes the fixes accepted since the last flush to storage in one batch; on
// failure they stay queued for the next one.
func (s *Service) Flush(ctx context.Context) (int, error) {
	ps := s.index.TakeDirty()
	if len(ps) == 0 {
		return 0, nil
	}
	if err := s.store.SaveLocations(ctx, ps); err != nil {
		s.index.Redirty(ps)
		return 0, fmt.Errorf("save %d driver locations: %w", len(ps), err)
	}
	return len(ps), nil
}

// Run rebuilds the index from storage (retrying until it succeeds), then flushes fixes
// and syncs the index with other replicas' changes (Sync) every FlushInterval, and
// sweeps stale fixes every SweepInterval, until ctx ends, when it flushes once more.
func (s *Service) Run(ctx context.Context, o RunOptions) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var synced time.Time
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		synced = s.clock()
		n, err := s.Rebuild(ctx)
		if err == nil {
			log.Info("driver index rebuilt", slog.Int("drivers", n))
			if o.Rebuilt != nil {
				o.Rebuilt()
			}
			break
		}
		log.Warn("rebuild the driver index", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	flush := time.NewTicker(o.FlushInterval)
	defer flush.Stop()
	sweep := time.NewTicker(o.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			// The last batch, on a context of its own: ctx is over.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := s.Flush(fctx); err != nil {
				log.Warn("flush driver locations at shutdown", slog.Any("error", err))
			}
			return
		case <-flush.C:
			if _, err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				log.Warn("flush driver locations", slog.Any("error", err))
			}
			if _, err := s.Sync(ctx, &synced); err != nil && ctx.Err() == nil {
				log.Warn("sync the driver index", slog.Any("error", err))
			}
		case <-sweep.C:
			s.index.Sweep()
		}
	}
}
