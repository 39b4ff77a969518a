package pgxutil

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// TxBeginner starts transactions; *pgxpool.Pool, *pgxpool.Conn and *pgx.Conn all do.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// TxOptions configures InTxOpts.
type TxOptions struct {
	// TxOptions sets the isolation level, access mode and deferrability.
	pgx.TxOptions
	// MaxRetries is how many more times fn is run, in a new transaction, after a
	// serialization failure (40001) or a deadlock (40P01); 0 runs it once. Retrying is
	// only correct when fn has no effects outside the transaction.
	MaxRetries int
}

const (
	retryBaseDelay = 5 * time.Millisecond
	retryMaxDelay  = 500 * time.Millisecond
)

// InTx runs fn in a transaction at the database's default isolation level: it commits
// when fn returns nil and rolls back when fn returns an error or panics (the panic then
// continues). fn's error is returned as it is, for the caller to pass to MapError.
func InTx(ctx context.Context, db TxBeginner, fn func(pgx.Tx) error) error {
	return InTxOpts(ctx, db, TxOptions{}, fn)
}

// InTxOpts is InTx with transaction options and retries of transactions that lost a
// race: after a serialization failure or deadlock, from fn or from the commit, it waits
// a random, growing delay and runs fn again, at most opts.MaxRetries times.
func InTxOpts(ctx context.Context, db TxBeginner, opts TxOptions, fn func(pgx.Tx) error) error {
	return Retry(ctx, opts.MaxRetries, func() error { return runTx(ctx, db, opts.TxOptions, fn) })
}

// Retry runs fn, which should run one whole transaction, and runs it again while it
// fails with a serialization failure or a deadlock (see ErrConflict): after a random,
// growing delay, at most maxRetries more times, and not after ctx ends. It returns fn's
// last error as it is. InTxOpts uses it; a store that runs its transactions its own way
// calls it to retry them with the same policy.
func Retry(ctx context.Context, maxRetries int, fn func() error) error {
	// Hand-written rather than backoff.Retry (cenkalti/backoff/v5): its ExponentialBackOff
	// jitters a factor either side of the interval and caps the interval, not the delay,
	// so full jitter would be a BackOff of our own with these same lines; non-conflict
	// errors would need wrapping in backoff.Permanent; and when ctx ends it returns the
	// context's cause, not fn's last error, which callers pass to MapError. It would also
	// cost 4 allocations (about 150 ns, measured) on every transaction, retried or not.
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= maxRetries || !retryable(err) {
			return err
		}
		// Full jitter: transactions that collided once do not collide again in step.
		delay := rand.N(min(retryBaseDelay<<attempt, retryMaxDelay)) + time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

// runTx runs fn in one transaction.
func runTx(ctx context.Context, db TxBeginner, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	committed := false
	defer func() {
		// Runs on an error and on a panic; after a commit it does nothing.
		if !committed {
			_ = tx.Rollback(ctx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
