// Package txn is Waybill's one transaction helper, used by every service's storage
// package: it runs a function in a PostgreSQL transaction, writes the events the
// function emits to the outbox (kit/outbox) in that transaction, runs the whole
// transaction again after a serialization failure or a deadlock, maps database errors to
// the domain's (kit/errs) once, and wakes the outbox's sequencer after a commit that
// emitted events.
//
//	runner := txn.New(pool, txn.Options{Notify: log.Notify})
//	err := runner.Run(ctx, func(tx *txn.Tx) error {
//		// Update, or lock, the aggregate's row before emitting: see outbox.Emit.
//		if _, err := tx.Exec(ctx, "UPDATE reservation SET state = 'confirmed' WHERE id = $1", id); err != nil {
//			return fmt.Errorf("confirm reservation: %w", err)
//		}
//		tx.Emit(outbox.Event{Type: "booking.reservation.confirmed", Key: id, Payload: msg})
//		return nil
//	})
//
// # Pipelining
//
// A Tx spends no round trip of its own on BEGIN or on COMMIT: BEGIN goes out in one
// pipelined batch with the transaction's first statement (or batch), and the outbox
// insert goes out in one batch with COMMIT. "Update a row and emit an event" thus costs
// 2 round trips instead of a pgx.Tx's 4 (BEGIN, UPDATE, INSERT, COMMIT). It pays even
// with PostgreSQL on the same machine: BenchmarkUpdateAndEmit, which alternates both
// ways in one run (go test -run '^$' -bench . -count 3 ./kit/txn/), measured in every
// run 0.63-0.77 of a pgx.Tx's latency serially (for example 180 µs against 238 µs) and
// 0.50-0.74 with 8 concurrent writers (800 µs against 1,306 µs), on 2 shared cores. So
// the pipelined Tx is the behaviour for every service.
package txn

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

// DefaultMaxRetries is Options.MaxRetries when it is 0.
const DefaultMaxRetries = 5

// Options configures a Runner. The zero value retries DefaultMaxRetries times and
// notifies no one.
type Options struct {
	// Notify runs after each commit of a transaction that emitted events; pass the
	// service's outbox.Log.Notify, which wakes the sequencer at once. nil leaves the
	// events to the sequencer's next poll.
	Notify func()
	// MaxRetries is how many more times a transaction that lost a race (serialization
	// failure 40001 or deadlock 40P01) runs; 0 means DefaultMaxRetries and a negative
	// value runs each transaction once.
	MaxRetries int
}

// Querier runs statements: *Tx, pgx.Tx, *pgxpool.Pool and *pgx.Conn all do. Storage
// code that reads in a transaction or straight from the pool takes one.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	_ Querier = (*Tx)(nil)
	_ Querier = (pgx.Tx)(nil)
	_ Querier = (*pgxpool.Pool)(nil)
	_ Querier = (*pgx.Conn)(nil)
)

// Runner runs transactions on a pool. It is safe for concurrent use.
type Runner struct {
	pool *pgxpool.Pool
	opts Options
}

// New returns a Runner of transactions on pool, whose search_path resolves "outbox" to
// the service's schema (pgxutil.PoolConfig.Schema does so). It does no I/O.
func New(pool *pgxpool.Pool, o Options) *Runner {
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	o.MaxRetries = max(o.MaxRetries, 0)
	return &Runner{pool: pool, opts: o}
}

// Run runs fn in a transaction and commits it when fn returns nil, together with the
// events fn emitted (Tx.Emit); then it calls Options.Notify if there were events. When
// fn returns an error or panics, the transaction is rolled back (and the panic
// continues). A transaction that lost a race, in fn or at its commit, runs again, fn
// included, after a random, growing delay (pgxutil.Retry), so fn must have no effects
// outside the transaction.
//
// Errors come back mapped once by pgxutil.MapError: fn's domain errors (an *errs.Error,
// or any error carrying an errs.Kind) unchanged, the database's as kit/errs kinds with
// the PostgreSQL error as their cause, and unknown errors unchanged. fn should return
// database errors as they are (wrapping them with %w is fine), not turned into domain
// errors: a conflict so turned is no longer retried.
//
// Do not call Run inside fn: the inner transaction is another one, on another
// connection, and waits for one from the pool.
func (r *Runner) Run(ctx context.Context, fn func(tx *Tx) error) error {
	emitted := false
	err := pgxutil.Retry(ctx, r.opts.MaxRetries, func() (err error) {
		emitted, err = r.run(ctx, fn)
		return err
	})
	if err != nil {
		return pgxutil.MapError(err)
	}
	if emitted && r.opts.Notify != nil {
		r.opts.Notify()
	}
	return nil
}

// run runs fn once, in one transaction, and reports whether its commit wrote events.
func (r *Runner) run(ctx context.Context, fn func(tx *Tx) error) (bool, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire connection: %w", err)
	}
	t := &Tx{conn: conn}
	defer t.end(ctx) // on an error and on a panic too
	if err := fn(t); err != nil {
		return false, err
	}
	return len(t.events) > 0, t.commit(ctx)
}

// Tx is one transaction of a Runner, valid only during the function passed to Run. Its
// Exec, Query, QueryRow and SendBatch work as pgx.Tx's, and it is a Querier. BEGIN
// goes out in one pipelined batch with the transaction's first statement or batch, and
// COMMIT in one batch with the outbox insert of the emitted events (see Pipelining in
// the package documentation). The first statement goes out with the extended protocol
// even without arguments, so its SQL must be a single statement. To change the
// isolation level, make "SET TRANSACTION ISOLATION LEVEL …" the first statement: it
// costs no round trip of its own either. A Tx is not safe for concurrent use.
type Tx struct {
	conn   *pgxpool.Conn
	begun  bool // BEGIN was sent
	events []outbox.Event
	atEnd  []func(*pgx.Batch) error // BeforeCommit's
}

// BeforeCommit adds queue to what runs when fn returns nil: queue appends statements to
// the batch that carries the outbox insert and COMMIT, so they cost no round trip of
// their own (an idempotency key's completion, say: idempotencypg.Claim.QueueComplete). An
// error from queue, or from a statement it queued, fails the commit and Run returns it.
func (t *Tx) BeforeCommit(queue func(b *pgx.Batch) error) {
	t.atEnd = append(t.atEnd, queue)
}

// Emit queues events to be written to the outbox with the transaction's commit, in the
// order given, with the W3C trace context of Run's ctx. Events of one key are delivered
// in commit order only if the transaction updated, or locked (SELECT … FOR UPDATE), the
// aggregate's row: see outbox.Emit. An event that cannot be encoded (an empty Type, a
// payload that does not marshal) fails the commit, and Run returns the error.
func (t *Tx) Emit(events ...outbox.Event) {
	t.events = append(t.events, events...)
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.conn.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.SendBatch(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs a query in the transaction. The rows must be closed before the next
// statement.
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begun {
		return t.conn.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.SendBatch(ctx, b)
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs a query of at most one row in the transaction.
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begun {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.SendBatch(ctx, b)
	return batchRow{br: br, row: br.QueryRow()}
}

// SendBatch sends b as one pipelined batch in the transaction. The results must be
// closed before the next statement.
func (t *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	t.begun = true
	withBegin := &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)}
	br := t.conn.SendBatch(ctx, withBegin)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return errBatch{fmt.Errorf("begin transaction: %w", err)}
	}
	return br
}

// commit sends BeforeCommit's statements, the emitted events' outbox insert and COMMIT
// in one round trip. A transaction that sent nothing sends them, if any, as one implicit
// transaction of their own.
func (t *Tx) commit(ctx context.Context) error {
	b := &pgx.Batch{}
	for _, queue := range t.atEnd {
		if err := queue(b); err != nil {
			return err
		}
	}
	if err := outbox.Queue(ctx, b, t.events...); err != nil {
		return err
	}
	if !t.begun {
		if b.Len() == 0 {
			return nil
		}
		// One statement is a transaction of its own.
		if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		// COMMIT of a transaction that failed earlier rolls it back without an error.
		if tag.String() == "ROLLBACK" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// end rolls back what the transaction left open (after an error or a panic; after a
// commit nothing is open) and returns the connection to the pool, which closes it
// instead if it is still busy or in a transaction.
func (t *Tx) end(ctx context.Context) {
	pc := t.conn.Conn().PgConn()
	if !pc.IsBusy() && pc.TxStatus() != 'I' && ctx.Err() == nil {
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
	}
	t.conn.Release()
	t.conn = nil
}

// batchRow is the row of a batch of one query; scanning it closes the batch.
type batchRow struct {
	br  pgx.BatchResults
	row pgx.Row
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// batchRows are the rows of a batch of one query; closing them closes the batch.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

// Next closes the batch after the last row, as pgx's rows close themselves.
func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	if r.br == nil {
		return
	}
	r.Rows.Close()
	r.err = r.br.Close()
	r.br = nil
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// errRow is the pgx.Row of a query that could not be sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errBatch is the pgx.BatchResults of a batch whose BEGIN failed.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
