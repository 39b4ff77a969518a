package trippg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/trip/trip"
)

// DefaultRequestLease is how long a ride request holds its idempotency key while it calls
// billing, fare and matching; a retry after it may take the request over.
const DefaultRequestLease = 10 * time.Second

// Options configures a Store.
type Options struct {
	// TripEvent builds the payload of an event about t (waybill.trip.v1.TripEvent).
	// Required.
	TripEvent func(t trip.Trip, previous trip.Status) proto.Message
	// Notify, when set, is called after a transaction that emitted events commits, to
	// wake the outbox sequencer at once (outbox.Log.Notify).
	Notify func()
	// Now is the idempotency keys' clock; time.Now when nil.
	Now func() time.Time
	// RequestLease is DefaultRequestLease when 0.
	RequestLease time.Duration
}

// Store is the trip service's storage on PostgreSQL; it implements trip.Store.
type Store struct {
	pool  *pgxpool.Pool
	tx    *txn.Runner
	keys  *idempotencypg.Keys
	opts  Options
	bound *txn.Tx // set by In: every write runs in this transaction
}

var _ trip.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the trip schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	if opts.RequestLease <= 0 {
		opts.RequestLease = DefaultRequestLease
	}
	return &Store{
		pool: pool,
		tx:   txn.New(pool, txn.Options{Notify: opts.Notify}),
		keys: idempotencypg.New(idempotencypg.Options{Lease: opts.RequestLease, Now: opts.Now}),
		opts: opts,
	}
}

// In returns the store bound to tx, a consumer's transaction: its writes (Update) run
// in tx and commit with the consumer's cursor.
func (s *Store) In(tx *txn.Tx) *Store {
	c := *s
	c.bound = tx
	return &c
}

// run runs fn in the bound transaction, or in a transaction of its own.
func (s *Store) run(ctx context.Context, fn func(tx *txn.Tx) error) error {
	if s.bound != nil {
		return fn(s.bound)
	}
	return s.tx.Run(ctx, fn)
}

// constraints maps the trip schema's named constraints to trip's errors.
var constraints = pgxutil.Constraints{
	"trip_one_active_per_rider": errs.Precondition(trip.ReasonActiveTripExists,
		"the rider already has a trip that is requested, has a driver assigned or is under way"),
}

// errPending answers a change of a trip whose request is still being set up: the
// caller (a consumer of matching's events) retries.
func errPending(id string) error {
	return errs.Unreachable("TRIP_PENDING", "trip %s is still being requested; retry", id)
}

// tripColumns are the columns scanTrip reads, in order.
const tripColumns = `id::text, customer_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, product, city,
	status, sub_status, driver_id, match_id, match_request_id, estimate_amount, estimate_currency, quote_id,
	surge_bps, final_fare_amount, final_fare_currency, actual_dropoff_lat, actual_dropoff_lng,
	last_point_lat, last_point_lng, last_point_time, distance_meters, duration_seconds,
	assign_time, start_time, end_time, cancel_actor, cancel_actor_id, cancel_reason, cancel_time,
	timeline, create_time, update_time, version, published, abandoning`

// scanTrip reads one row of tripColumns.
func scanTrip(row pgx.Row) (trip.Trip, error) {
	var (
		t                                   trip.Trip
		status                              string
		fareAmount                          *int64
		fareCurrency                        *string
		dropLat, dropLng, lastLat, lastLng  *float64
		lastTime, assign, start, end, cncAt *time.Time
		cncActor, cncActorID, cncReason     *string
		timeline                            []byte
	)
	err := row.Scan(&t.ID, &t.CustomerID, &t.Pickup.Lat, &t.Pickup.Lng, &t.Dropoff.Lat, &t.Dropoff.Lng, &t.Product, &t.City,
		&status, &t.SubStatus, &t.DriverID, &t.MatchID, &t.MatchRequestID, &t.Estimate.Amount, &t.Estimate.Currency, &t.QuoteID,
		&t.SurgeBps, &fareAmount, &fareCurrency, &dropLat, &dropLng,
		&lastLat, &lastLng, &lastTime, &t.DistanceMeters, &t.DurationSeconds,
		&assign, &start, &end, &cncActor, &cncActorID, &cncReason, &cncAt,
		&timeline, &t.CreateTime, &t.UpdateTime, &t.Version, &t.Published, &t.Abandoning)
	if err != nil {
		return trip.Trip{}, err
	}
	t.Status = trip.Status(status)
	if fareAmount != nil && fareCurrency != nil {
		m := money.New(*fareAmount, *fareCurrency)
		t.FinalFare = &m
	}
	if dropLat != nil && dropLng != nil {
		t.ActualDropoff = &trip.Point{Lat: *dropLat, Lng: *dropLng}
	}
	if lastLat != nil && lastLng != nil && lastTime != nil {
		t.LastRoutePoint = &trip.RoutePoint{Point: trip.Point{Lat: *lastLat, Lng: *lastLng}, Time: lastTime.UTC()}
	}
	t.AssignTime, t.StartTime, t.EndTime = utc(assign), utc(start), utc(end)
	if cncAt != nil {
		t.Cancellation = &trip.Cancellation{Actor: trip.Actor(deref(cncActor)), ActorID: deref(cncActorID),
			Reason: deref(cncReason), Time: cncAt.UTC()}
	}
	if err := json.Unmarshal(timeline, &t.Timeline); err != nil {
		return trip.Trip{}, fmt.Errorf("decode timeline of trip %s: %w", t.ID, err)
	}
	for i := range t.Timeline {
		t.Timeline[i].Time = t.Timeline[i].Time.UTC()
	}
	t.CreateTime, t.UpdateTime = t.CreateTime.UTC(), t.UpdateTime.UTC()
	return t, nil
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// orNull returns nil for the zero time, so that it is stored as NULL.
func orNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// loadTrip reads trip id (locked FOR UPDATE when lock); NotFound when there is none.
func loadTrip(ctx context.Context, q txn.Querier, id string, lock bool) (trip.Trip, error) {
	sql := "SELECT " + tripColumns + " FROM trip WHERE id = $1"
	if lock {
		sql += " FOR UPDATE"
	}
	t, err := scanTrip(q.QueryRow(ctx, sql, id))
	if err != nil {
		return trip.Trip{}, pgxutil.MapNotFound(err, "trip %s not found", id)
	}
	return t, nil
}

// loadRoute reads trip id's route, oldest point first.
func loadRoute(ctx context.Context, q txn.Querier, id string) ([]trip.RoutePoint, error) {
	const sql = `SELECT time, lat, lng FROM route_point WHERE trip_id = $1 ORDER BY time`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("load route of trip %s: %w", id, err)
	}
	route, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trip.RoutePoint, error) {
		var p trip.RoutePoint
		err := r.Scan(&p.Time, &p.Point.Lat, &p.Point.Lng)
		p.Time = p.Time.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("load route of trip %s: %w", id, err)
	}
	return route, nil
}

// LookupRequest implements trip.Store.
func (s *Store) LookupRequest(ctx context.Context, k idempotency.Key) (string, bool, error) {
	result, found, err := s.keys.Lookup(ctx, s.pool, k)
	if err != nil {
		return "", false, pgxutil.MapError(err)
	}
	return string(result), found, nil
}

// BeginRequest implements trip.Store.
func (s *Store) BeginRequest(ctx context.Context, k idempotency.Key, t trip.Trip) (trip.Trip, idempotency.Lease, error) {
	var (
		out   trip.Trip
		lease idempotency.Lease
	)
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		c, err := s.keys.Acquire(ctx, tx, k, []byte(t.ID))
		if err != nil {
			return err
		}
		lease = c.Lease()
		if lease.Replayed {
			return nil
		}
		if len(lease.Memo) > 0 { // the id the first attempt chose (or this one's)
			t.ID = string(lease.Memo)
		}
		out, err = insertPending(ctx, tx, t)
		return err
	})
	if err != nil {
		return trip.Trip{}, idempotency.Lease{}, err
	}
	return out, lease, nil
}

// AbandonRequest implements trip.Store.
func (s *Store) AbandonRequest(ctx context.Context, l idempotency.Lease) error {
	return pgxutil.MapError(s.keys.Resume(l).Abandon(ctx, s.pool))
}

// insertPending stores t unpublished in q, or returns the trip already stored under
// t.ID unchanged.
func insertPending(ctx context.Context, q txn.Querier, t trip.Trip) (trip.Trip, error) {
	const sql = `INSERT INTO trip (id, customer_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, product, city,
		status, match_request_id, estimate_amount, estimate_currency, quote_id, surge_bps, timeline,
		create_time, update_time, version)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
	ON CONFLICT (id) DO NOTHING`
	timeline, err := json.Marshal(t.Timeline)
	if err != nil {
		return trip.Trip{}, fmt.Errorf("encode timeline: %w", err)
	}
	tag, err := q.Exec(ctx, sql, t.ID, t.CustomerID, t.Pickup.Lat, t.Pickup.Lng, t.Dropoff.Lat, t.Dropoff.Lng,
		t.Product, t.City, string(t.Status), t.MatchRequestID, t.Estimate.Amount, t.Estimate.Currency, t.QuoteID,
		t.SurgeBps, timeline, t.CreateTime, t.UpdateTime, t.Version)
	if err != nil {
		return trip.Trip{}, constraints.Map(fmt.Errorf("insert trip: %w", err))
	}
	if tag.RowsAffected() == 1 {
		return t, nil
	}
	return loadTrip(ctx, q, t.ID, false)
}

// Publish implements trip.Store.
func (s *Store) Publish(ctx context.Context, id, matchID string, at time.Time, l idempotency.Lease) (trip.Trip, error) {
	const sql = `UPDATE trip SET published = true, match_id = $2, update_time = $3 WHERE id = $1
		RETURNING ` + tripColumns
	var out trip.Trip
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		t, err := loadTrip(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if t.Published {
			out = t
			return nil
		}
		if t.Abandoning {
			return errs.Unreachable(trip.ReasonRequestBeingCleanedUp, "an earlier attempt of this ride request is being undone; retry shortly")
		}
		if out, err = scanTrip(tx.QueryRow(ctx, sql, id, matchID, at)); err != nil {
			return fmt.Errorf("publish trip %s: %w", id, err)
		}
		tx.Emit(outbox.Event{Type: trip.EventRequested, Key: id, Payload: s.opts.TripEvent(out, "")})
		return s.keys.Resume(l).Complete(ctx, tx, []byte(id))
	})
	return out, err
}

// DeletePending implements trip.Store.
func (s *Store) DeletePending(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM trip WHERE id = $1 AND NOT published`, id); err != nil {
		return pgxutil.MapError(fmt.Errorf("delete pending trip %s: %w", id, err))
	}
	return nil
}

// StalePending implements trip.Store.
func (s *Store) StalePending(ctx context.Context, before time.Time, limit int) ([]trip.Trip, error) {
	sql := `SELECT ` + tripColumns + ` FROM trip WHERE NOT published AND create_time < $1 ORDER BY create_time LIMIT $2`
	return s.query(ctx, "list pending trips", sql, before, limit)
}

// MarkAbandoning implements trip.Store.
func (s *Store) MarkAbandoning(ctx context.Context, id string) (trip.Trip, bool, error) {
	sql := `UPDATE trip SET abandoning = true WHERE id = $1 AND NOT published RETURNING ` + tripColumns
	t, err := scanTrip(s.pool.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return trip.Trip{}, false, nil
	}
	if err != nil {
		return trip.Trip{}, false, pgxutil.MapError(fmt.Errorf("mark trip %s abandoning: %w", id, err))
	}
	return t, true, nil
}

// query runs a query of trips.
func (s *Store) query(ctx context.Context, op, sql string, args ...any) ([]trip.Trip, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("%s: %w", op, err))
	}
	trips, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trip.Trip, error) { return scanTrip(r) })
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("%s: %w", op, err))
	}
	return trips, nil
}

// Trip implements trip.Store.
func (s *Store) Trip(ctx context.Context, id string, view trip.View) (trip.Trip, error) {
	t, err := loadTrip(ctx, s.pool, id, false)
	if err != nil {
		return trip.Trip{}, err
	}
	if !t.Published {
		return trip.Trip{}, errs.Missing("", "trip %s not found", id)
	}
	if view == trip.ViewFull {
		if t.Route, err = loadRoute(ctx, s.pool, id); err != nil {
			return trip.Trip{}, pgxutil.MapError(err)
		}
	}
	return t, nil
}

// TripsByID implements trip.Store.
func (s *Store) TripsByID(ctx context.Context, ids []string) ([]trip.Trip, error) {
	sql := `SELECT ` + tripColumns + ` FROM trip WHERE id = ANY($1::uuid[]) AND published`
	return s.query(ctx, "get trips", sql, ids)
}

// ListTrips implements trip.Store. The WHERE clause names only the filters that are set,
// so that the planner can use the index of each (by rider, by driver, by time).
func (s *Store) ListTrips(ctx context.Context, f trip.Filter, after *trip.Cursor, limit int) ([]trip.Trip, error) {
	where := []string{"published"}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.CustomerID != "" {
		where = append(where, "customer_id = "+arg(f.CustomerID))
	}
	if f.DriverID != "" {
		where = append(where, "driver_id = "+arg(f.DriverID))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if after != nil {
		where = append(where, fmt.Sprintf("(create_time, id) < (%s, %s::uuid)", arg(after.CreateTime), arg(after.ID)))
	}
	sql := `SELECT ` + tripColumns + ` FROM trip WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY create_time DESC, id DESC LIMIT ` + arg(limit)
	return s.query(ctx, "list trips", sql, args...)
}

// Update implements trip.Store.
func (s *Store) Update(ctx context.Context, id string, k idempotency.Key, withRoute bool, change trip.ChangeFunc) (trip.Trip, error) {
	var out trip.Trip
	err := s.run(ctx, func(tx *txn.Tx) error {
		t, err := loadTrip(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !t.Published {
			return errPending(id)
		}
		claim, err := s.keys.Begin(ctx, tx, k)
		if err != nil {
			return err
		}
		if claim.Replayed {
			out = t
			return nil
		}
		if withRoute {
			if t.Route, err = loadRoute(ctx, tx, id); err != nil {
				return err
			}
		}
		ch, err := change(t)
		if err != nil {
			return err
		}
		if err := insertTasks(ctx, tx, ch.Tasks); err != nil {
			return err
		}
		out = t
		if !ch.Unchanged {
			if err := s.write(ctx, tx, ch); err != nil {
				return err
			}
			out = ch.Trip
		}
		return claim.Complete(ctx, tx, []byte(id))
	})
	if err != nil {
		return trip.Trip{}, err
	}
	return out, nil
}

// write stores ch's trip, its route points and its event in tx.
func (s *Store) write(ctx context.Context, tx *txn.Tx, ch trip.Change) error {
	const sql = `UPDATE trip SET status = $2, sub_status = $3, driver_id = $4, match_id = $5,
		final_fare_amount = $6, final_fare_currency = $7, actual_dropoff_lat = $8, actual_dropoff_lng = $9,
		last_point_lat = $10, last_point_lng = $11, last_point_time = $12, distance_meters = $13,
		duration_seconds = $14, assign_time = $15, start_time = $16, end_time = $17, cancel_actor = $18,
		cancel_actor_id = $19, cancel_reason = $20, cancel_time = $21, timeline = $22, update_time = $23,
		version = $24, match_request_id = $25
	WHERE id = $1`
	t := ch.Trip
	var (
		fareAmount                         *int64
		fareCurrency                       *string
		dropLat, dropLng, lastLat, lastLng *float64
		lastTime, cncAt                    *time.Time
		cncActor, cncActorID, cncReason    *string
	)
	if t.FinalFare != nil {
		fareAmount, fareCurrency = &t.FinalFare.Amount, &t.FinalFare.Currency
	}
	if t.ActualDropoff != nil {
		dropLat, dropLng = &t.ActualDropoff.Lat, &t.ActualDropoff.Lng
	}
	if p := t.LastRoutePoint; p != nil {
		lastLat, lastLng, lastTime = &p.Point.Lat, &p.Point.Lng, &p.Time
	}
	if c := t.Cancellation; c != nil {
		actor := string(c.Actor)
		cncActor, cncActorID, cncReason, cncAt = &actor, &c.ActorID, &c.Reason, &c.Time
	}
	timeline, err := json.Marshal(t.Timeline)
	if err != nil {
		return fmt.Errorf("encode timeline: %w", err)
	}
	if _, err := tx.Exec(ctx, sql, t.ID, string(t.Status), t.SubStatus, t.DriverID, t.MatchID, fareAmount, fareCurrency,
		dropLat, dropLng, lastLat, lastLng, lastTime, t.DistanceMeters, t.DurationSeconds, orNull(t.AssignTime),
		orNull(t.StartTime), orNull(t.EndTime), cncActor, cncActorID, cncReason, cncAt, timeline, t.UpdateTime,
		t.Version, t.MatchRequestID); err != nil {
		return fmt.Errorf("update trip %s: %w", t.ID, err)
	}
	if err := insertPoints(ctx, tx, t.ID, ch.AddRoute); err != nil {
		return err
	}
	if ch.Event != nil {
		tx.Emit(outbox.Event{Type: ch.Event.Type, Key: t.ID, Payload: s.opts.TripEvent(t, ch.Event.PreviousStatus)})
	}
	return nil
}

// insertPoints adds route points of trip id whose time is not recorded yet, and returns
// how many it added.
func insertPoints(ctx context.Context, q txn.Querier, id string, points []trip.RoutePoint) error {
	_, err := addPoints(ctx, q, id, points)
	return err
}

func addPoints(ctx context.Context, q txn.Querier, id string, points []trip.RoutePoint) (int, error) {
	if len(points) == 0 {
		return 0, nil
	}
	const sql = `INSERT INTO route_point (trip_id, time, lat, lng)
		SELECT $1, * FROM unnest($2::timestamptz[], $3::float8[], $4::float8[]) ON CONFLICT DO NOTHING`
	times := make([]time.Time, len(points))
	lats := make([]float64, len(points))
	lngs := make([]float64, len(points))
	for i, p := range points {
		times[i], lats[i], lngs[i] = p.Time, p.Point.Lat, p.Point.Lng
	}
	tag, err := q.Exec(ctx, sql, id, times, lats, lngs)
	if err != nil {
		return 0, fmt.Errorf("insert route points of trip %s: %w", id, err)
	}
	return int(tag.RowsAffected()), nil
}

// insertTasks records calls to matching owed after the commit; a task already recorded
// is not recorded twice.
func insertTasks(ctx context.Context, q txn.Querier, tasks []trip.Task) error {
	const sql = `INSERT INTO matching_task (trip_id, kind, match_id, driver_id, reason, request_id)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (trip_id, kind, match_id) DO NOTHING`
	for _, t := range tasks {
		if _, err := q.Exec(ctx, sql, t.TripID, string(t.Kind), t.MatchID, t.DriverID, t.Reason, t.RequestID); err != nil {
			return fmt.Errorf("insert %s task of trip %s: %w", t.Kind, t.TripID, err)
		}
	}
	return nil
}

// AddRoutePoints implements trip.Store.
func (s *Store) AddRoutePoints(ctx context.Context, id string, pick func(trip.Trip) ([]trip.RoutePoint, error), now time.Time) (int, trip.Trip, error) {
	const bump = `UPDATE trip SET (last_point_time, last_point_lat, last_point_lng) =
			(SELECT time, lat, lng FROM route_point WHERE trip_id = $1 ORDER BY time DESC LIMIT 1),
		version = version + 1, update_time = $2
	WHERE id = $1 RETURNING ` + tripColumns
	var (
		added int
		out   trip.Trip
	)
	err := s.run(ctx, func(tx *txn.Tx) error {
		t, err := loadTrip(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !t.Published {
			return errs.Missing("", "trip %s not found", id)
		}
		points, err := pick(t)
		if err != nil {
			return err
		}
		if added, err = addPoints(ctx, tx, id, points); err != nil {
			return err
		}
		out = t
		if added > 0 {
			if out, err = scanTrip(tx.QueryRow(ctx, bump, id, now)); err != nil {
				return fmt.Errorf("update last route point of trip %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, trip.Trip{}, err
	}
	return added, out, nil
}

// ClaimTasks implements trip.Store.
func (s *Store) ClaimTasks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]trip.Task, error) {
	const sql = `UPDATE matching_task SET next_attempt_at = $2, attempts = attempts + 1
	WHERE id IN (SELECT id FROM matching_task WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3
		FOR UPDATE SKIP LOCKED)
	RETURNING id, trip_id::text, kind, match_id, driver_id, reason, request_id, attempts`
	rows, err := s.pool.Query(ctx, sql, now, now.Add(lease), limit)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("claim matching tasks: %w", err))
	}
	tasks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trip.Task, error) {
		var t trip.Task
		var kind string
		err := r.Scan(&t.ID, &t.TripID, &kind, &t.MatchID, &t.DriverID, &t.Reason, &t.RequestID, &t.Attempts)
		t.Kind = trip.TaskKind(kind)
		return t, err
	})
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("claim matching tasks: %w", err))
	}
	return tasks, nil
}

// SetMatch implements trip.Store.
func (s *Store) SetMatch(ctx context.Context, id, matchRequestID, matchID string, now time.Time) (bool, error) {
	const sql = `UPDATE trip SET match_id = $3, version = version + 1, update_time = $4
	WHERE id = $1 AND published AND status = 'requested' AND match_id = '' AND match_request_id = $2`
	tag, err := s.pool.Exec(ctx, sql, id, matchRequestID, matchID, now)
	if err != nil {
		return false, pgxutil.MapError(fmt.Errorf("set the match of trip %s: %w", id, err))
	}
	return tag.RowsAffected() == 1, nil
}

// FinishTask implements trip.Store.
func (s *Store) FinishTask(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM matching_task WHERE id = $1`, id); err != nil {
		return pgxutil.MapError(fmt.Errorf("finish matching task %d: %w", id, err))
	}
	return nil
}

// RetryTask implements trip.Store.
func (s *Store) RetryTask(ctx context.Context, id int64, at time.Time, lastError string) error {
	const sql = `UPDATE matching_task SET next_attempt_at = $2, last_error = $3 WHERE id = $1`
	if _, err := s.pool.Exec(ctx, sql, id, at, lastError); err != nil {
		return pgxutil.MapError(fmt.Errorf("reschedule matching task %d: %w", id, err))
	}
	return nil
}
