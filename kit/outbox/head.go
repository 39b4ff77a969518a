package outbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/pgxutil"
)

// Head returns the sequence of the last event appended to the log (event_log_head's
// last_seq): 0 before the first. Events the sequencer has not moved yet are not counted;
// call Sequence first to count every event committed so far.
func (l *Log) Head(ctx context.Context) (int64, error) {
	var seq int64
	sql := `SELECT last_seq FROM ` + pgx.Identifier{l.schema, "event_log_head"}.Sanitize()
	if err := l.pool.QueryRow(ctx, sql).Scan(&seq); err != nil {
		return 0, pgxutil.MapError(fmt.Errorf("read the head of the event log: %w", err))
	}
	return seq, nil
}
