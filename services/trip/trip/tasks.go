package trip

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
)

// Task runner tuning.
const (
	// taskLease is how long a claimed task is not handed out again: longer than a call
	// to matching with its retries (3 tries of at most 3 s), so that only a runner that
	// died holding a task delays it.
	taskLease = 15 * time.Second
	// taskBatch is how many tasks one round claims, and taskWorkers how many of them
	// run at once: each is a call to matching, so a busy minute (every ride that ends
	// owes a release) must not queue them one behind the other.
	taskBatch   = 64
	taskWorkers = 16
	// firstTaskBackoff is the delay after a task's first failed try; it doubles with
	// each further one up to maxTaskBackoff.
	firstTaskBackoff = 500 * time.Millisecond
	maxTaskBackoff   = 30 * time.Second
)

// RunTasks makes the matching calls that committed changes owe (ReleaseDriver after a
// ride ended, CancelMatch after a trip was cancelled), each until matching answered it:
// on every wake-up and at least every poll, until ctx ends. A call matching refuses for
// good (the driver or match is unknown, the match already failed) is done too: there is
// nothing left to release. Calls carry a request id derived from the trip, so repeats
// are harmless.
func (s *Service) RunTasks(ctx context.Context, wake <-chan struct{}, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for s.runTasks(ctx) == taskBatch {
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// runTasks runs one round of due tasks and returns how many it claimed.
func (s *Service) runTasks(ctx context.Context) int {
	tasks, err := s.store.ClaimTasks(ctx, s.clock(), taskLease, taskBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Logger.Warn("claim matching tasks", slog.Any("error", err))
		}
		return 0
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, taskWorkers)
	for _, task := range tasks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.finishTask(ctx, task)
		}()
	}
	wg.Wait()
	return len(tasks)
}

// finishTask makes task's call and records its outcome: done, or retried after a
// backoff. The outcome is recorded even when ctx ended meanwhile (a shutdown), so that a
// failed try is retried at its time rather than after the lease.
func (s *Service) finishTask(ctx context.Context, task Task) {
	err := s.runTask(ctx, task)
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	switch {
	case err == nil || !indefinite(err) && errs.KindOf(err) != errs.Unknown:
		if err != nil {
			s.opts.Logger.Info("matching task refused for good; nothing left to do",
				slog.String("trip_id", task.TripID), slog.String("kind", string(task.Kind)), slog.Any("error", err))
		}
		err = s.store.FinishTask(record, task.ID)
	default:
		delay := min(firstTaskBackoff<<min(max(task.Attempts-1, 0), 16), maxTaskBackoff)
		s.opts.Logger.Warn("matching task failed; retrying", slog.String("trip_id", task.TripID),
			slog.String("kind", string(task.Kind)), slog.Any("error", err), slog.Duration("retry_in", delay))
		err = s.store.RetryTask(record, task.ID, s.clock().Add(delay), err.Error())
	}
	if err != nil && ctx.Err() == nil {
		s.opts.Logger.Warn("record matching task", slog.Int64("task", task.ID), slog.Any("error", err))
	}
}

// runTask makes task's call.
func (s *Service) runTask(ctx context.Context, task Task) error {
	switch task.Kind {
	case TaskReleaseDriver:
		return s.opts.Matching.ReleaseDriver(ctx, task.DriverID, task.TripID, task.Reason, "release-"+task.TripID)
	case TaskCancelMatch:
		return s.opts.Matching.CancelMatch(ctx, task.MatchID, task.Reason, "cancel-"+task.MatchID)
	case TaskRematch:
		return s.rematch(ctx, task)
	}
	return nil
}

// rematch runs a rematch task: it cancels the old match (which releases the driver who
// cancelled), then, while the trip still waits for this rematch, starts the new match
// and records it. A new match the trip no longer wants (it was cancelled meanwhile) is
// cancelled again. Every call is idempotent by its request id, so the task may run again
// after any failure.
func (s *Service) rematch(ctx context.Context, task Task) error {
	if task.MatchID != "" {
		err := s.opts.Matching.CancelMatch(ctx, task.MatchID, task.Reason, "cancel-"+task.MatchID)
		if err != nil && (indefinite(err) || errs.KindOf(err) == errs.Unknown) {
			return err
		}
	}
	t, err := s.store.Trip(ctx, task.TripID, ViewBasic)
	if err != nil {
		return err
	}
	if t.Status != StatusRequested || t.MatchRequestID != task.RequestID {
		return nil // cancelled meanwhile, or rematched again: nothing to start
	}
	m, err := s.opts.Matching.CreateMatch(ctx, MatchRequest{TripID: t.ID, Pickup: t.Pickup, Product: t.Product,
		RequestID: task.RequestID, Options: s.opts.Match})
	if err != nil && !indefinite(err) && errs.KindOf(err) != errs.Unknown {
		// Matching refuses the search for good: the trip cannot find a driver.
		return s.failRematch(ctx, t.ID, task.RequestID)
	}
	if err != nil {
		return err
	}
	ok, err := s.store.SetMatch(ctx, t.ID, task.RequestID, m.ID, s.clock())
	if err != nil {
		return err
	}
	if !ok {
		// Either the trip took the match already (its driver.assigned event came first)
		// or it no longer wants one (cancelled meanwhile): cancel it only in the latter case.
		now, err := s.store.Trip(ctx, t.ID, ViewBasic)
		if err != nil {
			return err
		}
		if now.MatchID == m.ID {
			return nil
		}
		return s.opts.Matching.CancelMatch(ctx, m.ID, "trip_cancelled", "cancel-"+m.ID)
	}
	s.opts.Hub.Notify(t.ID)
	return nil
}

// failRematch cancels, by the system, a trip whose new search matching refused, if it
// still waits for it.
func (s *Service) failRematch(ctx context.Context, id, requestID string) error {
	now := s.clock()
	_, err := s.update(ctx, "fail rematch", id, idempotency.Key{}, false, func(t Trip) (Change, error) {
		if t.Status != StatusRequested || t.MatchRequestID != requestID || t.MatchID != "" {
			return Change{Unchanged: true, Trip: t}, nil
		}
		ch := advance(t, StatusCancelled, EventCancelled, "cancelled", now)
		ch.Trip.Cancellation = &Cancellation{Actor: ActorSystem, ActorID: "matching", Reason: "no_driver_found", Time: now}
		return ch, nil
	})
	return err
}

// RunSweeper runs SweepPending every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.SweepPending(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("sweep pending ride requests", slog.Any("error", err))
		} else if n > 0 {
			s.opts.Logger.Info("undid ride requests left pending", slog.Int("count", n))
		}
	}
}
