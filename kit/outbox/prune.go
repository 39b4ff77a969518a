package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneBatch is the most rows one retention transaction deletes: short transactions,
// no long locks, and no table rewrite.
const pruneBatch = 5000

// pruneSQL deletes the longest prefix of the oldest $2 events of the log whose
// sequenced_at is before $1 microseconds ago, and raises pruned_through to its end in
// the same transaction. Only a prefix: the log must stay gap-free above pruned_through.
const pruneSQL = `WITH batch AS (
    SELECT seq, sequenced_at FROM %[1]s ORDER BY seq LIMIT $2
), kept AS (
    SELECT min(seq) AS seq FROM batch WHERE sequenced_at >= now() - $1::bigint * interval '1 microsecond'
), deleted AS (
    DELETE FROM %[1]s
    WHERE seq IN (SELECT seq FROM batch WHERE seq < coalesce((SELECT seq FROM kept), 9223372036854775807))
    RETURNING seq
)
UPDATE %[2]s SET pruned_through = greatest(pruned_through, (SELECT max(seq) FROM deleted))
WHERE EXISTS (SELECT 1 FROM deleted)
RETURNING (SELECT count(*) FROM deleted)`

// Prune deletes the events sequenced more than olderThan ago, oldest first, in
// transactions of at most 5,000 rows, and returns how many it deleted. It stops at the
// first event that is younger, so the log stays a gap-free range above pruned_through,
// which it raises with each deletion: readers answer a cursor below it with
// OUT_OF_RANGE. Run calls it every PruneInterval with Retention.
func (l *Log) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	var total int64
	for {
		// One implicit transaction; JIT compilation would cost more than the delete.
		b := &pgx.Batch{}
		b.Queue("SELECT set_config('jit', 'off', true)")
		b.Queue(l.pruneSQL, olderThan.Microseconds(), pruneBatch)
		br := l.pool.SendBatch(ctx, b)
		var n int64
		_, err := br.Exec()
		if err == nil {
			if err = br.QueryRow().Scan(&n); isNoRows(err) {
				err = nil
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return total, fmt.Errorf("prune event log: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
