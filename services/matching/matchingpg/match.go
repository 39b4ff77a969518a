package matchingpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/matching/matching"
)

// matchColumns are the columns scanMatch reads, of match m.
const matchColumns = `m.id::text, m.trip_id, m.pickup_latitude, m.pickup_longitude, m.product, m.status, m.sub_status,
	coalesce(m.driver_id::text, ''), m.attempt_count, m.max_attempts, m.fan_out, m.offer_timeout_us,
	m.initial_radius, m.search_radius, coalesce(m.requested_driver_id::text, ''), m.failure_reason, m.cancel_reason,
	m.assign_time, m.release_time, m.due_time, m.create_time, m.update_time, m.version`

// scanMatch reads matchColumns.
func scanMatch(row pgx.Row) (matching.Match, error) {
	var (
		m                matching.Match
		timeoutUS        int64
		assign, rel, due *time.Time
	)
	err := row.Scan(&m.ID, &m.TripID, &m.Pickup.Lat, &m.Pickup.Lng, &m.Product, &m.Status, &m.SubStatus,
		&m.DriverID, &m.AttemptCount, &m.MaxAttempts, &m.FanOut, &timeoutUS,
		&m.InitialRadius, &m.SearchRadius, &m.RequestedDriverID, &m.FailureReason, &m.CancelReason,
		&assign, &rel, &due, &m.CreateTime, &m.UpdateTime, &m.Version)
	if err != nil {
		return matching.Match{}, err
	}
	m.OfferTimeout = time.Duration(timeoutUS) * time.Microsecond
	m.AssignTime, m.ReleaseTime, m.DueTime = utc(assign), utc(rel), utc(due)
	m.CreateTime, m.UpdateTime = m.CreateTime.UTC(), m.UpdateTime.UTC()
	return m, nil
}

// offerColumns are the columns scanOffer reads, of offer o.
const offerColumns = `o.id::text, o.match_id::text, o.trip_id, o.driver_id::text, o.pickup_latitude, o.pickup_longitude,
	o.product, o.status, o.attempt, o.distance_meters, o.eta_seconds, o.expire_time, o.resolve_time, o.decline_reason,
	o.create_time, o.update_time, o.version`

// scanOffer reads offerColumns.
func scanOffer(row pgx.Row) (matching.Offer, error) {
	var (
		o       matching.Offer
		resolve *time.Time
	)
	err := row.Scan(&o.ID, &o.MatchID, &o.TripID, &o.DriverID, &o.Pickup.Lat, &o.Pickup.Lng,
		&o.Product, &o.Status, &o.Attempt, &o.DistanceMeters, &o.ETASeconds, &o.ExpireTime, &resolve, &o.DeclineReason,
		&o.CreateTime, &o.UpdateTime, &o.Version)
	if err != nil {
		return matching.Offer{}, err
	}
	o.ResolveTime = utc(resolve)
	o.ExpireTime, o.CreateTime, o.UpdateTime = o.ExpireTime.UTC(), o.CreateTime.UTC(), o.UpdateTime.UTC()
	return o, nil
}

func collectOffers(rows pgx.Rows) ([]matching.Offer, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (matching.Offer, error) { return scanOffer(r) })
}

// utc returns *t in UTC, or the zero time for nil.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime is t for a nullable column: NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const (
	matchSQL  = `SELECT ` + matchColumns + ` FROM match m WHERE m.id = $1`
	offersSQL = `SELECT ` + offerColumns + ` FROM offer o WHERE o.match_id = $1 ORDER BY o.create_time, o.id`
)

// Match implements matching.Store.
func (s *Store) Match(ctx context.Context, id string, withOffers bool) (matching.Match, error) {
	if !ids.ValidUUID(id) {
		return matching.Match{}, errs.Missing("", "match %q not found", id)
	}
	b := &pgx.Batch{}
	b.Queue(matchSQL, id)
	if withOffers {
		b.Queue(offersSQL, id)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	m, err := scanMatch(br.QueryRow())
	if err != nil {
		return matching.Match{}, pgxutil.MapNotFound(err, "match %s not found", id)
	}
	if withOffers {
		rows, err := br.Query()
		if err != nil {
			return matching.Match{}, wrap(err, "read the offers of match %s", id)
		}
		if m.Offers, err = collectOffers(rows); err != nil {
			return matching.Match{}, wrap(err, "read the offers of match %s", id)
		}
	}
	return m, nil
}

const driverOffersSQL = `SELECT ` + offerColumns + ` FROM offer o
WHERE o.driver_id = $1 AND (o.status = 1 OR o.update_time >= $2)
ORDER BY o.update_time, o.id`

// DriverOffers implements matching.Store.
func (s *Store) DriverOffers(ctx context.Context, driverID string, since time.Time) ([]matching.Offer, error) {
	rows, err := s.pool.Query(ctx, driverOffersSQL, driverID, since)
	if err != nil {
		return nil, wrap(err, "read the offers of driver %s", driverID)
	}
	os, err := collectOffers(rows)
	if err != nil {
		return nil, wrap(err, "read the offers of driver %s", driverID)
	}
	return os, nil
}

const offerChangesSQL = `SELECT DISTINCT driver_id::text FROM offer WHERE update_time >= $1`

// OfferChanges implements matching.Store.
func (s *Store) OfferChanges(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, offerChangesSQL, since)
	if err != nil {
		return nil, wrap(err, "read offer changes")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "read offer changes")
	}
	return ids, nil
}

const nextDueSQL = `SELECT min(due_time) FROM match WHERE due_time IS NOT NULL`

// NextDue implements matching.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, nextDueSQL).Scan(&t); err != nil {
		return time.Time{}, false, wrap(err, "read the next due match")
	}
	return utc(t), t != nil, nil
}

const (
	// lockTripSQL serializes the creates of one trip's matches until the end of the
	// transaction.
	lockTripSQL  = `SELECT pg_advisory_xact_lock(hashtext('matching.trip'), hashtext($1))`
	lockMatchSQL = `SELECT ` + matchColumns + ` FROM match m WHERE m.id = $1 FOR UPDATE`
	// lockOfferMatchSQL locks the match of offer $1.
	lockOfferMatchSQL = `SELECT ` + matchColumns + ` FROM match m
WHERE m.id = (SELECT match_id FROM offer WHERE id = $1) FOR UPDATE`
	// offerMatchOffersSQL reads the offers of the match of offer $1.
	offerMatchOffersSQL = `SELECT ` + offerColumns + ` FROM offer o
WHERE o.match_id = (SELECT match_id FROM offer WHERE id = $1) ORDER BY o.create_time, o.id`
)

// InMatch implements matching.Store. The locks, then the idempotency claim, go out in
// the batch that begins the transaction, so a retry racing its first call waits for the
// match's lock and replays; the key's completion rides with the COMMIT.
func (s *Store) InMatch(ctx context.Context, lock matching.MatchLock, key idempotency.Key, fn matching.MatchFunc) ([]byte, bool, error) {
	if lock.MatchID != "" && !ids.ValidUUID(lock.MatchID) {
		return nil, false, errs.Missing("", "match %q not found", lock.MatchID)
	}
	if lock.OfferID != "" && !ids.ValidUUID(lock.OfferID) {
		return nil, false, errs.Missing("", "offer %q not found", lock.OfferID)
	}
	// What locks the match, and how an unknown one is reported.
	lockSQL, offersOf, key0, missing := lockMatchSQL, offersSQL, lock.MatchID, "match %s not found"
	withOffers := lock.Offers
	if lock.OfferID != "" {
		lockSQL, offersOf, key0, missing, withOffers = lockOfferMatchSQL, offerMatchOffersSQL, lock.OfferID, "offer %s not found", true
	}
	var (
		result   []byte
		replayed bool
	)
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		result, replayed = nil, false
		b := &pgx.Batch{}
		if lock.TripID != "" {
			b.Queue(lockTripSQL, lock.TripID)
		}
		if key0 != "" {
			b.Queue(lockSQL, key0)
			if withOffers {
				b.Queue(offersOf, key0)
			}
		}
		claim := s.keys.Queue(b, key)
		var m *matching.Match
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			if lock.TripID != "" {
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("lock trip %s: %w", lock.TripID, err)
				}
			}
			if key0 != "" {
				got, err := scanMatch(br.QueryRow())
				if errors.Is(err, pgx.ErrNoRows) {
					return errs.Missing("", missing, key0)
				} else if err != nil {
					return fmt.Errorf("lock match %s: %w", key0, err)
				}
				m = &got
				if withOffers {
					rows, err := br.Query()
					if err != nil {
						return fmt.Errorf("read the offers of match %s: %w", m.ID, err)
					}
					if m.Offers, err = collectOffers(rows); err != nil {
						return fmt.Errorf("read the offers of match %s: %w", m.ID, err)
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			result, replayed = c.Result, true
			return nil
		}
		res, err := fn(&matchTx{s: s, tx: tx}, m)
		if err != nil {
			return err
		}
		tx.BeforeCommit(func(b *pgx.Batch) error { return c.QueueComplete(b, res) })
		result = res
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return result, replayed, nil
}

// dueMatchSQL takes the match due first that no other transaction holds.
const dueMatchSQL = `SELECT ` + matchColumns + ` FROM match m
WHERE m.due_time <= $1 ORDER BY m.due_time LIMIT 1 FOR UPDATE SKIP LOCKED`

// postponeSQL moves a match whose step failed behind the others in the queue.
const postponeSQL = `UPDATE match SET due_time = $2 WHERE id = $1 AND due_time <= $3`

// dispatchRetry is how long a match whose step failed waits before it is tried again,
// so that one match that cannot be stepped does not hold up the queue.
const dispatchRetry = time.Second

// Dispatch implements matching.Store. When fn fails, the match's due time moves
// dispatchRetry ahead, so the matches due after it are not held up.
func (s *Store) Dispatch(ctx context.Context, now time.Time, fn func(tx matching.MatchTx, m matching.Match) error) (bool, error) {
	var id string
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		id = ""
		m, err := scanMatch(tx.QueryRow(ctx, dueMatchSQL, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("take a due match: %w", err)
		}
		id = m.ID
		return fn(&matchTx{s: s, tx: tx}, m)
	})
	if err != nil {
		if id != "" && ctx.Err() == nil {
			if _, perr := s.pool.Exec(ctx, postponeSQL, id, now.Add(dispatchRetry), now); perr != nil {
				err = errors.Join(err, wrap(perr, "postpone match %s", id))
			}
		}
		return id != "", fmt.Errorf("dispatch match %s: %w", id, err)
	}
	return id != "", nil
}

// matchTx implements matching.MatchTx on a transaction of the store.
type matchTx struct {
	s  *Store
	tx *txn.Tx
}

// Offers implements matching.MatchTx.
func (t *matchTx) Offers(ctx context.Context, matchID string) ([]matching.Offer, error) {
	rows, err := t.tx.Query(ctx, offersSQL, matchID)
	if err != nil {
		return nil, fmt.Errorf("read the offers of match %s: %w", matchID, err)
	}
	os, err := collectOffers(rows)
	if err != nil {
		return nil, fmt.Errorf("read the offers of match %s: %w", matchID, err)
	}
	return os, nil
}

// Driver implements matching.MatchTx.
func (t *matchTx) Driver(ctx context.Context, id string, lock bool) (matching.Driver, error) {
	if !ids.ValidUUID(id) {
		return matching.Driver{}, errs.Missing("", "driver %q not found", id)
	}
	q := driverSQL
	if lock {
		q = lockDriverSQL
	}
	d, err := scanDriver(t.tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return matching.Driver{}, errs.Missing("", "driver %s not found", id)
	}
	if err != nil {
		return matching.Driver{}, fmt.Errorf("read driver %s: %w", id, err)
	}
	return d, nil
}

const insertMatchSQL = `INSERT INTO match (id, trip_id, pickup_latitude, pickup_longitude, product, status, sub_status,
	attempt_count, max_attempts, fan_out, offer_timeout_us, initial_radius, search_radius, requested_driver_id,
	due_time, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, nullif($14, '')::uuid, $15, $16, $17, $18)`

// InsertMatch implements matching.MatchTx.
func (t *matchTx) InsertMatch(ctx context.Context, m matching.Match) error {
	_, err := t.tx.Exec(ctx, insertMatchSQL, m.ID, m.TripID, m.Pickup.Lat, m.Pickup.Lng, m.Product, m.Status, m.SubStatus,
		m.AttemptCount, m.MaxAttempts, m.FanOut, m.OfferTimeout.Microseconds(), m.InitialRadius, m.SearchRadius,
		m.RequestedDriverID, nullTime(m.DueTime), m.CreateTime, m.UpdateTime, m.Version)
	if err != nil {
		return constraints.Map(fmt.Errorf("insert match: %w", err))
	}
	return nil
}

const updateMatchSQL = `UPDATE match SET status = $2, sub_status = $3, driver_id = nullif($4, '')::uuid,
	attempt_count = $5, search_radius = $6, failure_reason = $7, cancel_reason = $8, assign_time = $9,
	release_time = $10, due_time = $11, update_time = $12, version = $13
WHERE id = $1 AND status = $14`

// UpdateMatch implements matching.MatchTx.
func (t *matchTx) UpdateMatch(ctx context.Context, m matching.Match, from matching.MatchStatus) (bool, error) {
	tag, err := t.tx.Exec(ctx, updateMatchSQL, m.ID, m.Status, m.SubStatus, m.DriverID,
		m.AttemptCount, m.SearchRadius, m.FailureReason, m.CancelReason, nullTime(m.AssignTime),
		nullTime(m.ReleaseTime), nullTime(m.DueTime), m.UpdateTime, m.Version, from)
	if err != nil {
		return false, constraints.Map(fmt.Errorf("update match %s: %w", m.ID, err))
	}
	return tag.RowsAffected() == 1, nil
}

const insertOfferSQL = `INSERT INTO offer (id, match_id, trip_id, driver_id, pickup_latitude, pickup_longitude, product,
	status, attempt, distance_meters, eta_seconds, expire_time, create_time, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`

// InsertOffer implements matching.MatchTx.
func (t *matchTx) InsertOffer(ctx context.Context, o matching.Offer) error {
	_, err := t.tx.Exec(ctx, insertOfferSQL, o.ID, o.MatchID, o.TripID, o.DriverID, o.Pickup.Lat, o.Pickup.Lng, o.Product,
		o.Status, o.Attempt, o.DistanceMeters, o.ETASeconds, o.ExpireTime, o.CreateTime, o.UpdateTime, o.Version)
	if err != nil {
		return constraints.Map(fmt.Errorf("insert offer: %w", err))
	}
	return nil
}

const resolveOfferSQL = `UPDATE offer SET status = $2, resolve_time = $3, decline_reason = $4, update_time = $5, version = $6
WHERE id = $1 AND status = 1 AND ($7::timestamptz IS NULL OR expire_time > $7)`

// ResolveOffer implements matching.MatchTx.
func (t *matchTx) ResolveOffer(ctx context.Context, o matching.Offer, before time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, resolveOfferSQL, o.ID, o.Status, nullTime(o.ResolveTime), o.DeclineReason, o.UpdateTime, o.Version, nullTime(before))
	if err != nil {
		return false, constraints.Map(fmt.Errorf("resolve offer %s: %w", o.ID, err))
	}
	return tag.RowsAffected() == 1, nil
}

// claimDriverSQL moves an AVAILABLE driver to OFFERED unless another transaction holds
// the row: the claim never waits, so two dispatchers offering overlapping drivers in
// different orders cannot deadlock.
const claimDriverSQL = `WITH d AS (
	UPDATE driver SET status = 3, current_match_id = $2, current_trip_id = $3, update_time = $4, version = version + 1
	WHERE id = (SELECT id FROM driver WHERE id = $1 AND status = 2 FOR NO KEY UPDATE SKIP LOCKED) AND status = 2
	RETURNING *)
SELECT ` + driverColumns + ` FROM d LEFT JOIN driver_location l ON l.driver_id = d.id`

// ClaimDriver implements matching.MatchTx.
func (t *matchTx) ClaimDriver(ctx context.Context, id string, m *matching.Match, now time.Time) (matching.Driver, bool, error) {
	return t.driverRow(ctx, claimDriverSQL, id, id, m.ID, m.TripID, now)
}

// moveDriverSQL moves a driver from one status (held for one match) to another.
const moveDriverSQL = `WITH d AS (
	UPDATE driver SET status = $4, current_match_id = nullif($5, '')::uuid, current_trip_id = nullif($6, ''),
		update_time = $7, version = version + 1
	WHERE id = $1 AND status = $2 AND ($3::text = '' OR current_match_id = nullif($3, '')::uuid)
	RETURNING *)
SELECT ` + driverColumns + ` FROM d LEFT JOIN driver_location l ON l.driver_id = d.id`

// MoveDriver implements matching.MatchTx.
func (t *matchTx) MoveDriver(ctx context.Context, id string, from matching.Status, fromMatch string, to matching.Status, m *matching.Match, now time.Time) (matching.Driver, bool, error) {
	var matchID, tripID string
	if m != nil {
		matchID, tripID = m.ID, m.TripID
	}
	return t.driverRow(ctx, moveDriverSQL, id, id, from, fromMatch, to, matchID, tripID, now)
}

// driverRow runs a conditional update of driver id that returns the driver; false when
// it changed no row.
func (t *matchTx) driverRow(ctx context.Context, sql, id string, args ...any) (matching.Driver, bool, error) {
	d, err := scanDriver(t.tx.QueryRow(ctx, sql, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return matching.Driver{}, false, nil
	}
	if err != nil {
		return matching.Driver{}, false, constraints.Map(fmt.Errorf("update driver %s: %w", id, err))
	}
	return d, true, nil
}

// Assign implements matching.MatchTx: the three conditional updates in one batch.
func (t *matchTx) Assign(ctx context.Context, o matching.Offer, m matching.Match, now time.Time) (matching.Driver, bool, error) {
	b := &pgx.Batch{}
	b.Queue(resolveOfferSQL, o.ID, o.Status, nullTime(o.ResolveTime), o.DeclineReason, o.UpdateTime, o.Version, now)
	b.Queue(updateMatchSQL, m.ID, m.Status, m.SubStatus, m.DriverID,
		m.AttemptCount, m.SearchRadius, m.FailureReason, m.CancelReason, nullTime(m.AssignTime),
		nullTime(m.ReleaseTime), nullTime(m.DueTime), m.UpdateTime, m.Version, matching.MatchOffered)
	b.Queue(moveDriverSQL, o.DriverID, matching.StatusOffered, m.ID, matching.StatusOnTrip, m.ID, m.TripID, now)
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	offer, err := br.Exec()
	if err != nil {
		return matching.Driver{}, false, constraints.Map(fmt.Errorf("accept offer %s: %w", o.ID, err))
	}
	match, err := br.Exec()
	if err != nil {
		return matching.Driver{}, false, constraints.Map(fmt.Errorf("assign match %s: %w", m.ID, err))
	}
	d, err := scanDriver(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return matching.Driver{}, false, nil
	}
	if err != nil {
		return matching.Driver{}, false, constraints.Map(fmt.Errorf("put driver %s on the ride: %w", o.DriverID, err))
	}
	return d, offer.RowsAffected() == 1 && match.RowsAffected() == 1, nil
}

// Emit implements matching.MatchTx.
func (t *matchTx) Emit(ev matching.Event) error {
	e, err := t.s.event(ev)
	if err != nil {
		return err
	}
	t.tx.Emit(e)
	return nil
}
