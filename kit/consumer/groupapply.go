package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/txn"
)

// groupAdvanceEvery is how often a member stores its position when the batches it
// receives hold none of its partitions' events (they need no transaction otherwise).
const groupAdvanceEvery = time.Second

const (
	loadPartitionsSQL = `SELECT partition, seq, cursor FROM consumer_partition_cursors
WHERE consumer = $1 AND source = $2 AND partition = ANY($3)`

	// lockPartitionsSQL locks the member's cursor rows (in partition order, so members
	// with overlapping views of the partitions cannot deadlock) and reads what is
	// applied. A member taking one of them over waits for this transaction.
	lockPartitionsSQL = `SELECT partition, seq FROM consumer_partition_cursors
WHERE consumer = $1 AND source = $2 AND partition = ANY($3) ORDER BY partition FOR UPDATE`

	// checkLeasesSQL reads the leases of the member's partitions after lockPartitionsSQL
	// (a statement of its own, so it sees any takeover that committed while the lock
	// waited); nobody can take them over before this transaction ends.
	checkLeasesSQL = `SELECT partition, owner, epoch, lease_until > now() FROM consumer_leases
WHERE consumer = $1 AND source = $2 AND partition = ANY($3)`

	// advancePartitionsSQL moves the member's partitions past the batch: every event of
	// them up to $4 is in the batch or was in an earlier one of the session. A partition
	// already past $4 (applied further by a previous owner) keeps its position. The
	// cursor is the one after the event with sequence $4, so each stored (seq, cursor)
	// pair names one position.
	advancePartitionsSQL = `
UPDATE consumer_partition_cursors
SET seq = greatest(seq, $4),
    cursor = CASE WHEN $5 <> '' AND $4 >= seq THEN $5 ELSE cursor END,
    updated_at = now()
WHERE consumer = $1 AND source = $2 AND partition = ANY($3)`
)

// loadGroupCursors waits until the member owns partitions and starts the session at the
// oldest of their committed positions.
func (c *consumer) loadGroupCursors(ctx context.Context) error {
	o, err := c.group.waitOwned(ctx)
	if err != nil {
		return err
	}
	return c.retryDB(ctx, "load partition cursors", func() error {
		seqs := map[int]int64{}
		first := true
		var seq int64
		var cursor string
		rows, err := c.cfg.Pool.Query(ctx, loadPartitionsSQL, c.cfg.Name, c.cfg.Source, o.parts)
		if err != nil {
			return fmt.Errorf("load partition cursors: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p int32
			var s int64
			var cur string
			if err := rows.Scan(&p, &s, &cur); err != nil {
				return fmt.Errorf("load partition cursors: %w", err)
			}
			seqs[int(p)] = s
			if first || s < seq {
				seq, cursor, first = s, cur, false
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load partition cursors: %w", err)
		}
		c.owned, c.seq, c.cursor, c.committedSeq = o, seq, cursor, seq
		c.lag.reset(seq)
		c.plag.reset(seqs)
		return nil
	})
}

// applyGroupTx is applyTx for a member of a group: it applies the events of batch that
// fall in the member's partitions, in one transaction that also checks the member's leases
// and advances its partitions' cursors (see Group).
func (c *consumer) applyGroupTx(ctx context.Context, batch []*eventsv1.SubscribeResponse, park *failure) error {
	var endSeq int64
	var endCursor string
	var newest *eventsv1.Event
	parts := make([]int, len(batch)) // each message's partition; -1 when not the member's
	mine := 0
	for i, m := range batch {
		ev := m.GetEvent()
		endSeq = max(endSeq, ev.GetSequence())
		if m.GetCursor() != "" {
			endCursor = m.GetCursor()
		}
		if ev != nil {
			newest = ev
		}
		parts[i] = -1
		if p := PartitionOf(ev.GetKey(), c.cfg.Group.Partitions); c.owned.owns(p) {
			parts[i] = p
			mine++
		}
	}
	if mine == 0 && park == nil && time.Since(c.advanced) < groupAdvanceEvery {
		// None of it is the member's: only the position moves, in memory until a later
		// transaction (or an idle stream's heartbeat) stores it.
		c.seq = max(c.seq, endSeq)
		if endCursor != "" {
			c.cursor = endCursor
		}
		c.lag.applied(c.seq, newest)
		return nil
	}
	return c.groupTx(ctx, batch, parts, park, endSeq, endCursor, newest)
}

// groupTx runs the transaction of applyGroupTx; with an empty batch it only stores the
// position (endSeq, endCursor).
func (c *consumer) groupTx(ctx context.Context, batch []*eventsv1.SubscribeResponse, parts []int, park *failure,
	endSeq int64, endCursor string, newest *eventsv1.Event) error {
	o := c.owned
	var keys []string
	seen := make(map[string]bool)
	for i, m := range batch {
		if k := m.GetEvent().GetKey(); parts[i] >= 0 && k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	committed := make(map[int]int64, len(o.parts))
	applied := make(map[int]int, len(o.parts)) // events per partition applied or parked
	var handled, parked int
	var appliedKeys []string // for Config.Committed
	err := c.tx.Run(ctx, func(tx *txn.Tx) error {
		handled, parked, appliedKeys = 0, 0, appliedKeys[:0]
		clear(committed)
		clear(applied)
		var lost error
		var q pgx.Batch
		q.Queue(asyncCommitSQL)
		q.Queue(lockPartitionsSQL, c.cfg.Name, c.cfg.Source, o.parts).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var p int32
				var seq int64
				if err := rows.Scan(&p, &seq); err != nil {
					return err
				}
				committed[int(p)] = seq
			}
			return rows.Err()
		})
		q.Queue(checkLeasesSQL, c.cfg.Name, c.cfg.Source, o.parts).Query(func(rows pgx.Rows) error {
			n := 0
			for rows.Next() {
				var p int32
				var owner string
				var epoch int64
				var valid bool
				if err := rows.Scan(&p, &owner, &epoch, &valid); err != nil {
					return err
				}
				n++
				if owner != c.cfg.Group.Member || epoch != o.epochs[int(p)] || !valid {
					lost = fmt.Errorf("%w: partition %d (owner %q, epoch %d, valid %t; this member %q holds epoch %d)",
						errLeaseLost, p, owner, epoch, valid, c.cfg.Group.Member, o.epochs[int(p)])
				}
			}
			if n != len(o.parts) && lost == nil {
				lost = fmt.Errorf("%w: %d of %d leases found", errLeaseLost, n, len(o.parts))
			}
			return rows.Err()
		})
		blocked := c.queueBlockedKeys(&q, keys)
		q.Queue(advancePartitionsSQL, c.cfg.Name, c.cfg.Source, o.parts, endSeq, endCursor)
		if err := tx.SendBatch(ctx, &q).Close(); err != nil {
			return fmt.Errorf("lock and advance partition cursors: %w", err)
		}
		if lost != nil {
			return lost
		}
		if len(committed) != len(o.parts) {
			return errCursorMissing
		}

		for i, m := range batch {
			p := parts[i]
			if p < 0 {
				continue
			}
			ev := m.GetEvent()
			if ev.GetSequence() > 0 && ev.GetSequence() <= committed[p] {
				continue
			}
			applied[p]++
			wasParked, err := c.applyEvent(ctx, tx, i, ev, park, blocked, p)
			if err != nil {
				return err
			}
			if wasParked {
				parked++
			} else {
				handled++
				if c.cfg.Committed != nil {
					appliedKeys = append(appliedKeys, ev.GetKey())
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.advanced = time.Now()
	c.seq = max(c.seq, endSeq)
	c.committedSeq = max(c.committedSeq, endSeq)
	if endCursor != "" {
		c.cursor = endCursor
	}
	c.lag.applied(c.seq, newest)
	c.plag.applied(applied, committed, endSeq, batch, parts)
	c.metrics.applied(ctx, handled, parked)
	c.committed(appliedKeys)
	return nil
}

// groupHeartbeat stores the position reached through batches that held none of the
// member's events, once the stream is idle. The heartbeat's own cursor is not stored: it
// may lie past the last event's sequence, and a partition's stored cursor must be the one
// right after its stored sequence (Run resumes a member from its oldest partition).
func (c *consumer) groupHeartbeat(ctx context.Context) {
	if c.owned == nil || c.seq <= c.committedSeq || c.cursor == "" {
		return
	}
	if err := c.groupTx(ctx, nil, nil, nil, c.seq, c.cursor, nil); err != nil {
		c.log.Debug("store the group's position", slog.Any("error", err))
	}
}
