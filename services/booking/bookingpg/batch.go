package bookingpg

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/services/booking/booking"
)

// lockReservationsSQL reads and locks a batch's reservations with one statement. The row
// lock is the single-reservation path's (FOR UPDATE OF r); taking them in id order keeps
// two overlapping batches from deadlocking on each other.
const lockReservationsSQL = reservationSelect + ` WHERE r.id = ANY($1::uuid[]) ORDER BY r.id FOR UPDATE OF r`

// UpdateReservations runs a batch of reservation changes in one transaction: the
// idempotency key, one locking read of every reservation, the domain's decisions, the
// writes sent as one pipelined batch (one UPDATE per changed reservation, one counter
// UPDATE per fare class or stay), the events and the saved result.
func (s *Store) UpdateReservations(ctx context.Context, ids []string, key booking.IdempotencyKey, fingerprint string, apply booking.BatchApply) ([]byte, error) {
	var out []byte
	err := s.inTx(ctx, func(tx *txn, emit func(...booking.Event)) error {
		out = nil
		first, result, fresh, err := claimKey(ctx, tx, key, fingerprint)
		if err != nil {
			return err
		}
		if !fresh {
			if first != fingerprint {
				return errKeyReused("request_id")
			}
			if result == nil {
				return fmt.Errorf("batch %s/%s has no saved result", key.Operation, key.RequestID)
			}
			out = result
			return nil
		}
		byID := make(map[string]*booking.Reservation, len(ids))
		if len(ids) > 0 {
			rs, err := queryReservations(ctx, tx, lockReservationsSQL, ids)
			if err != nil {
				return err
			}
			for _, r := range rs {
				byID[r.ID] = r
			}
		}
		changed, encode, err := apply(byID)
		if err != nil {
			return err
		}
		if err := writeBatch(ctx, tx, changed); err != nil {
			return err
		}
		for _, c := range changed {
			emit(booking.Event{Type: c.Change.Event, Reservation: c.Reservation, Previous: c.Change.Previous})
		}
		if out, err = encode(); err != nil {
			return fmt.Errorf("encode batch result: %w", err)
		}
		return saveKeyResult(ctx, tx, key, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// seatCounter names one fare class's counter row.
type seatCounter struct{ departureID, fareClass string }

// writeBatch writes the changed reservations and their counters in one round trip. Seat
// counters are summed per fare class; counter rows are updated in inventory order, as the
// sweeper does, so batches and sweeps do not deadlock on them.
func writeBatch(ctx context.Context, tx *txn, changed []booking.BatchChange) error {
	if len(changed) == 0 {
		return nil
	}
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
	return tx.SendBatch(ctx, b).Close()
}
