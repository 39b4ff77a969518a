package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
)

// Position is how far a consumer has applied a source's events.
type Position struct {
	// Seq is the sequence of the last event applied or parked; 0 before the first.
	Seq int64
	// Cursor is the source's opaque cursor the consumer resumes after; empty starts at
	// the beginning of the source's retained log.
	Cursor string
}

const cursorSQL = `SELECT seq, cursor FROM consumer_cursors WHERE consumer = $1 AND source = $2`

// Cursor returns the committed position of consumer name in source's events (the
// consumer_cursors row that Run advances, whichever replica applied them): the zero
// Position when the consumer has not started. A consumer run as a group (Config.Group)
// leaves that row as it was; read its partitions' positions with Partitions. q (a pool, a pgx.Tx or a *txn.Tx) must
// reach the tables of Migrations through its search_path.
func Cursor(ctx context.Context, q txn.Querier, name, source string) (Position, error) {
	var p Position
	err := q.QueryRow(ctx, cursorSQL, name, source).Scan(&p.Seq, &p.Cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, pgxutil.MapError(fmt.Errorf("read cursor of consumer %s, source %s: %w", name, source, err))
	}
	return p, nil
}
