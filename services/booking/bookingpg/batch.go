package bookingpg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/booking/booking"
)

// lockReservationsSQL reads and locks a batch's reservations with one statement. The row
// lock is the single-reservation path's (FOR UPDATE OF r); taking them in id order keeps
// two overlapping batches from deadlocking on each other.
const lockReservationsSQL = reservationSelect + ` WHERE r.id = ANY($1::uuid[]) ORDER BY r.id FOR UPDATE OF r`

// UpdateReservations runs a batch of reservation changes in one transaction of three
// round trips whatever its size: one locking read of every reservation with the claim of
// the idempotency key (with BEGIN); the writes (one UPDATE per changed reservation, one
// counter UPDATE per fare class or stay) with the key's result, as one pipelined batch;
// the events with COMMIT.
func (s *Store) UpdateReservations(ctx context.Context, ids []string, key idempotency.Key, apply booking.BatchApply) ([]byte, error) {
	var out []byte
	err := s.run(ctx, func(tx *txn.Tx) error {
		out = nil
		// The claim follows the row locks: a retry racing the first call waits for it
		// there, then replays its result.
		b := &pgx.Batch{}
		b.Queue(lockReservationsSQL, ids)
		claim := s.keys.Queue(b, key)
		br := tx.SendBatch(ctx, b)
		rows, err := br.Query()
		var rs []*booking.Reservation
		if err == nil {
			rs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*booking.Reservation, error) { return scanReservation(r) })
		}
		var c *idempotencypg.Claim
		if err == nil {
			c, err = claimRead(claim, br)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if rp, ok := errors.AsType[replayed](err); ok {
			out = rp.result
			return nil // nothing was changed: the transaction commits nothing
		}
		if err != nil {
			return fmt.Errorf("lock reservations: %w", err)
		}
		byID := make(map[string]*booking.Reservation, len(rs))
		for _, r := range rs {
			byID[r.ID] = r
		}
		changed, encode, err := apply(byID)
		if err != nil {
			return err
		}
		// The rows are locked, so each write raises its reservation's version by exactly
		// one: the result, stored with the writes, can say so before they run.
		for _, ch := range changed {
			ch.Reservation.Version++
		}
		if out, err = encode(); err != nil {
			return fmt.Errorf("encode batch result: %w", err)
		}
		wb := writeBatch(changed)
		if err := c.QueueComplete(wb, out); err != nil {
			return err
		}
		if wb.Len() > 0 {
			if err := tx.SendBatch(ctx, wb).Close(); err != nil {
				return err
			}
		}
		for _, c := range changed {
			if err := s.emit(tx, booking.Event{Type: c.Change.Event, Reservation: c.Reservation, Previous: c.Change.Previous}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seatCounter names one fare class's counter row.
type seatCounter struct{ departureID, fareClass string }

// writeBatch returns the statements writing the changed reservations and their
// counters, to send as one pipelined batch; each reservation's version is set to the one
// its UPDATE gives it. Seat counters are summed per fare class; counter rows are updated
// in inventory order, as the sweeper does, so batches and sweeps do not deadlock on them.
func writeBatch(changed []booking.BatchChange) *pgx.Batch {
	b := &pgx.Batch{}
	for _, c := range changed {
		r := c.Reservation
		b.Queue(updateReservationSQL, reservationArgs(r)...).QueryRow(func(row pgx.Row) error {
			if err := row.Scan(&r.Version); err != nil {
				return fmt.Errorf("update reservation %s: %w", r.ID, err)
			}
			return nil
		})
	}

	seats := map[seatCounter][2]int{}
	var stays []booking.BatchChange
	for _, c := range changed {
		if c.Change.HeldDelta == 0 && c.Change.SoldDelta == 0 {
			continue
		}
		if s := c.Reservation.Seat; s != nil {
			k := seatCounter{s.DepartureID, s.FareClass}
			d := seats[k]
			seats[k] = [2]int{d[0] + c.Change.HeldDelta, d[1] + c.Change.SoldDelta}
			continue
		}
		stays = append(stays, c)
	}
	keys := make([]seatCounter, 0, len(seats))
	for k := range seats {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seatCounter) int {
		return cmp.Or(cmp.Compare(a.departureID, b.departureID), cmp.Compare(a.fareClass, b.fareClass))
	})
	for _, k := range keys {
		d := seats[k]
		if d[0] == 0 && d[1] == 0 {
			continue
		}
		b.Queue(seatCountersSQL, k.departureID, k.fareClass, d[0], d[1]).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("move seat counters: fare class %s/%s is missing", k.departureID, k.fareClass)
			}
			return nil
		})
	}
	slices.SortFunc(stays, func(a, b booking.BatchChange) int {
		return cmp.Or(cmp.Compare(inventoryKey(a.Reservation), inventoryKey(b.Reservation)), cmp.Compare(a.Reservation.ID, b.Reservation.ID))
	})
	for _, c := range stays {
		st := c.Reservation.Stay
		b.Queue(nightCountersSQL, st.PropertyID, st.RoomType, st.CheckIn.In(time.UTC, 0), st.CheckOut.In(time.UTC, 0),
			c.Change.HeldDelta, c.Change.SoldDelta).Exec(func(tag pgconn.CommandTag) error {
			if int(tag.RowsAffected()) != st.Nights() {
				return fmt.Errorf("move room counters: %d of %d nights of %s/%s exist", tag.RowsAffected(), st.Nights(), st.PropertyID, st.RoomType)
			}
			return nil
		})
	}
	return b
}
