package bookingpg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/booking/booking"
)

// txn is one transaction of the store, on a connection of the pool. It saves the two
// round trips a pgx.Tx spends on BEGIN and on COMMIT: BEGIN goes out in one pipelined
// batch with the transaction's first statement or batch (only a first Query, whose rows
// are read one by one, sends it on its own), and COMMIT goes out in one batch with the
// outbox insert of the transaction's events. A seat hold's transaction thus costs two
// round trips and a confirmation's three.
type txn struct {
	conn  *pgxpool.Conn
	begun bool // BEGIN was sent
}

// begin sends BEGIN on its own, before a query whose rows are read one by one.
func (t *txn) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	if _, err := t.conn.Exec(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

// Exec runs a statement in the transaction (the first one in one batch with BEGIN).
func (t *txn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.SendBatch(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs a query in the transaction; the first one sends BEGIN before it, on its own.
func (t *txn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

// QueryRow runs a query of one row in the transaction (the first one in one batch with
// BEGIN).
func (t *txn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := t.SendBatch(ctx, b)
	return batchRow{br: br, row: br.QueryRow()}
}

// SendBatch sends b as one pipelined batch in the transaction; the transaction's first
// batch carries its BEGIN, whose result is read here.
func (t *txn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
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

// commit writes events to the outbox and commits, in one round trip. A transaction that
// sent nothing has nothing to commit.
func (t *txn) commit(ctx context.Context, events []outbox.Event) error {
	if !t.begun {
		if len(events) > 0 {
			return errors.New("commit: events emitted by a transaction that wrote nothing")
		}
		return nil
	}
	b := &pgx.Batch{}
	if err := outbox.Queue(ctx, b, events...); err != nil {
		return err
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
// commit nothing is open) and returns the connection to the pool, which closes it if
// the rollback failed.
func (t *txn) end(ctx context.Context) {
	if t.conn.Conn().PgConn().TxStatus() != 'I' {
		_, _ = t.conn.Exec(ctx, "ROLLBACK")
	}
	t.conn.Release()
}

// txMaxRetries is how often a transaction that lost a race (deadlock or serialization
// failure) runs again.
const txMaxRetries = 5

// inTx runs fn in a transaction and commits it when fn returns nil; events fn passes to
// emit are written to the outbox with the commit, and Notify runs after it. A transaction
// that lost a race (deadlock or serialization failure) runs again, as pgxutil.Retry
// does, at most txMaxRetries times.
func (s *Store) inTx(ctx context.Context, fn func(tx *txn, emit func(...booking.Event)) error) error {
	var emitted bool
	err := pgxutil.Retry(ctx, txMaxRetries, func() (err error) {
		emitted, err = s.runTx(ctx, fn)
		return err
	})
	if err != nil {
		return mapErr(err)
	}
	if emitted && s.opts.Notify != nil {
		s.opts.Notify()
	}
	return nil
}

// runTx runs fn once, in one transaction, and reports whether the commit wrote events.
func (s *Store) runTx(ctx context.Context, fn func(tx *txn, emit func(...booking.Event)) error) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquire connection: %w", err)
	}
	t := &txn{conn: conn}
	defer t.end(ctx) // runs on an error and on a panic too
	var events []booking.Event
	if err := fn(t, func(evs ...booking.Event) { events = append(events, evs...) }); err != nil {
		return false, err
	}
	out := make([]outbox.Event, len(events))
	for i, ev := range events {
		payload, err := s.opts.Encode(ev)
		if err != nil {
			return false, fmt.Errorf("encode %s event: %w", ev.Type, err)
		}
		out[i] = outbox.Event{Type: ev.Type, Key: ev.Key(), Payload: payload}
	}
	return len(out) > 0, t.commit(ctx, out)
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
