// Package outbox is the producer side of Waybill's event backbone: a service writes its
// events in the same transaction as the state change that causes them (a transactional
// outbox), and one sequencer per process moves committed events into an append-only,
// gap-free log in commit order.
//
// # Tables
//
// The tables live in each emitting service's own schema. Migrations holds them as *.sql
// files named 0100_outbox.sql and up, to be applied with the service's own migrations
// (pgxutil.MergeMigrations of both, passed to pgxutil.Migrate):
//
//   - outbox: events written by business transactions, not yet sequenced
//     (id bigserial, event_id uuid, type, key, payload_type, payload, trace_context jsonb,
//     occurred_at).
//   - event_log: the sequenced log (seq bigint primary key, the same columns, sequenced_at).
//     Sequence numbers are 1, 2, 3, … without gaps until retention prunes a prefix.
//   - event_log_head: one row holding last_seq (the highest assigned seq) and
//     pruned_through (every seq up to it has been pruned).
//
// # Writing events
//
// Services write events through kit/txn, the one transaction helper: Tx.Emit queues
// them, and the outbox insert goes out with the transaction's COMMIT (Queue); after the
// commit it calls Log.Notify, which wakes the sequencer at once.
//
//	log := outbox.New(pool, "booking", outbox.Options{Logger: logger})
//	go log.Run(ctx) // the sequencer and periodic retention
//	runner := txn.New(pool, txn.Options{Notify: log.Notify})
//	err := runner.Run(ctx, func(tx *txn.Tx) error {
//		// Lock or update the aggregate's row first: see Emit.
//		if _, err := tx.Exec(ctx, "UPDATE reservation SET state = 'confirmed' WHERE id = $1", id); err != nil {
//			return err
//		}
//		tx.Emit(outbox.Event{Type: "booking.reservation.confirmed", Key: id, Payload: msg})
//		return nil
//	})
//
// Emit(ctx, tx, events...) writes events in a pgx.Tx, and Queue(ctx, batch, events...)
// queues their insert onto a pgx batch, for kit code below kit/txn. Business
// transactions never call pg_notify: it takes a global lock at commit
// (../shared/PERFORMANCE.md measured "update + insert outbox" at 16 clients: about
// 7,400 tx/s, 3,500 with pg_notify in the transaction).
//
// # Why the log never skips an event
//
// Identifiers from bigserial are assigned at insert time but become visible at commit
// time, in another order: a reader that trusts them alone misses a row that commits
// after a higher one was read. Here only the sequencer assigns seq. Each of its batches is
// one transaction that takes pg_advisory_xact_lock(hashtext(schema || '.event_log')), so
// batches of every replica run one at a time, and moves the committed outbox rows it can
// see (in id order) to event_log with seq = last_seq+1, last_seq+2, …. A batch sees every
// commit that preceded it, and a batch's rows appear at once when it commits, so the
// order of seq is the order in which events became visible: a reader that reads
// seq > cursor never skips one. The batch ends with one pg_notify(Channel(schema),
// last_seq), the coalesced wake-up for readers in other processes. Readers in this
// process get the batch's events handed over (Log.OnAppend) and so need not read them
// back.
//
// # Retention
//
// Log.Prune deletes the oldest events of event_log in short transactions of at most
// 5,000 rows (no table rewrite, no long locks) and raises pruned_through; Run calls it
// periodically with Options.Retention (default 7 days). Readers answer a cursor below
// pruned_through with OUT_OF_RANGE.
//
// # API
//
//	var Migrations fs.FS
//	type Event struct{ Type, Key string; Payload proto.Message }
//	func Emit(ctx context.Context, tx pgx.Tx, events ...Event) error
//	func Queue(ctx context.Context, b *pgx.Batch, events ...Event) error
//	func Channel(schema string) string
//	type Options struct{ PollInterval time.Duration; BatchSize int; Retention, PruneInterval time.Duration; Logger *slog.Logger }
//	func New(pool *pgxpool.Pool, schema string, opts Options) *Log
//	func (l *Log) Notify()
//	type Logged struct{ Seq int64; EventID, Type, Key, PayloadType string; Payload []byte; TraceContext map[string]string; OccurredAt time.Time }
//	func (l *Log) OnAppend(fn func([]Logged))
//	func (l *Log) Run(ctx context.Context) error
//	func (l *Log) Sequence(ctx context.Context) (int, error)
//	func (l *Log) Prune(ctx context.Context, olderThan time.Duration) (int64, error)
package outbox
