package consumer

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

// Limits of the admin RPCs.
const (
	// DefaultPageSize is ListParkedEvents' page size when the request gives none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page ListParkedEvents returns.
	MaxPageSize = 1000
	// MaxIDs is the most ids one Replay or Discard call may name.
	MaxIDs = 1000
)

// pageTokenPrefix versions ListParkedEvents' page tokens.
const pageTokenPrefix = "parked:v1:"

// adminServer serves ConsumerAdminService for one consuming service: operators list the
// parked events of its consumers, replay them with the consumers' handlers (after fixing
// what made them fail), and discard them.
type adminServer struct {
	eventsv1.UnimplementedConsumerAdminServiceServer

	service  string
	pool     *pgxpool.Pool
	handlers map[string]Handler
	tracer   *tracer
}

// NewAdminServer returns the admin server of the service named service, whose parked
// events are in pool's parked_events table. handlers maps each consumer name (as in
// Config.Name) to the handler that Replay runs; parked events of consumers not in it can
// be listed and discarded but not replayed. Requests whose service field is neither empty
// nor service are rejected, so the gateway can route by it.
func NewAdminServer(service string, pool *pgxpool.Pool, handlers map[string]Handler) eventsv1.ConsumerAdminServiceServer {
	return &adminServer{service: service, pool: pool, handlers: handlers, tracer: newTracer(otel.GetTracerProvider())}
}

// ListParkedEvents lists parked events, oldest first, a page at a time.
func (s *adminServer) ListParkedEvents(ctx context.Context, req *eventsv1.ListParkedEventsRequest) (*eventsv1.ListParkedEventsResponse, error) {
	if err := s.checkService(req.GetService()); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = DefaultPageSize
	case size < 0 || size > MaxPageSize:
		return nil, invalidArgument("page_size", fmt.Sprintf("must be between 1 and %d, or 0 for %d", MaxPageSize, DefaultPageSize))
	}
	after, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, invalidArgument("page_token", "not a page token returned by ListParkedEvents")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+parkedColumns+` FROM parked_events
		WHERE ($1 = '' OR consumer = $1) AND id > $2 ORDER BY id LIMIT $3`, req.GetConsumer(), after, size+1)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	defer rows.Close()
	resp := &eventsv1.ListParkedEventsResponse{}
	var last int64
	for rows.Next() {
		if len(resp.ParkedEvents) == size {
			resp.NextPageToken = encodePageToken(last)
			break
		}
		var r parkedRow
		if err := rows.Scan(r.scanDest()...); err != nil {
			return nil, fmt.Errorf("list parked events: %w", err)
		}
		resp.ParkedEvents = append(resp.ParkedEvents, r.proto())
		last = r.id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	return resp, nil
}

// ReplayParkedEvents runs the consumers' handlers again for the given parked events, or
// for all of them (of one consumer, when given), each in its own transaction that also
// removes it from the queue. Each key's events run oldest first; when one fails, its new
// error is recorded and the later events of its key stay parked untouched (counted
// neither as replayed nor as failed). An event is never replayed while an older event of
// its key stays parked. A replay of all drains each key, including events that the
// running consumer parks behind it meanwhile, so the key flows live again afterwards;
// it skips consumers this server has no handler for.
func (s *adminServer) ReplayParkedEvents(ctx context.Context, req *eventsv1.ReplayParkedEventsRequest) (*eventsv1.ReplayParkedEventsResponse, error) {
	if err := s.checkService(req.GetService()); err != nil {
		return nil, err
	}
	ids, err := parseIDs(req.GetIds(), false)
	if err != nil {
		return nil, err
	}
	consumer := req.GetConsumer()
	if consumer != "" && s.handlers[consumer] == nil {
		return nil, invalidArgument("consumer", fmt.Sprintf("no consumer %q in service %q", consumer, s.service))
	}
	if len(ids) == 0 {
		return s.replayAll(ctx, consumer)
	}

	targets, err := s.replayTargets(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if consumer != "" && t.consumer != consumer {
			return nil, invalidArgument("consumer", fmt.Sprintf("parked event %d belongs to consumer %q", t.id, t.consumer))
		}
		if s.handlers[t.consumer] == nil {
			return nil, status.Errorf(codes.FailedPrecondition, "parked event %d belongs to consumer %q, which has no handler in service %q", t.id, t.consumer, s.service)
		}
	}
	resp := &eventsv1.ReplayParkedEventsResponse{}
	var stopped replayGroup
	for _, t := range targets {
		if t.key != "" && t.replayGroup == stopped {
			continue
		}
		outcome, err := s.replayOne(ctx, t.id)
		if err != nil {
			return nil, err
		}
		if tally(resp, outcome) {
			stopped = t.replayGroup
		}
	}
	return resp, nil
}

// replayAll replays every parked event of consumer (of every consumer with a handler
// when empty), key by key.
func (s *adminServer) replayAll(ctx context.Context, consumer string) (*eventsv1.ReplayParkedEventsResponse, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT consumer, source, key FROM parked_events
		WHERE $1 = '' OR consumer = $1 ORDER BY consumer, source, key`, consumer)
	if err != nil {
		return nil, fmt.Errorf("read parked events: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (replayGroup, error) {
		var g replayGroup
		err := row.Scan(&g.consumer, &g.source, &g.key)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("read parked events: %w", err)
	}
	resp := &eventsv1.ReplayParkedEventsResponse{}
	for _, g := range groups {
		if s.handlers[g.consumer] == nil {
			continue
		}
		// Events without a key wait for nothing: each is replayed once, whatever the
		// others do. A key's events are replayed oldest first until none is left or one
		// fails.
		var afterSeq, afterID int64
		for {
			var id, seq int64
			err := s.pool.QueryRow(ctx, `SELECT id, seq FROM parked_events
				WHERE consumer = $1 AND source = $2 AND key = $3 AND ($3 <> '' OR (seq, id) > ($4, $5))
				ORDER BY seq, id LIMIT 1`, g.consumer, g.source, g.key, afterSeq, afterID).Scan(&id, &seq)
			if errors.Is(err, pgx.ErrNoRows) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read parked events: %w", err)
			}
			outcome, err := s.replayOne(ctx, id)
			if err != nil {
				return nil, err
			}
			if tally(resp, outcome) && g.key != "" {
				break
			}
			afterSeq, afterID = seq, id
		}
	}
	return resp, nil
}

// tally adds outcome to resp and reports whether it stops its key's replay.
func tally(resp *eventsv1.ReplayParkedEventsResponse, outcome replayOutcome) (stop bool) {
	switch outcome {
	case replayed:
		resp.ReplayedCount++
	case replayFailed:
		resp.FailedCount++
		return true
	case replayBlocked:
		return true
	}
	return false
}

// DiscardParkedEvents removes parked events without running their handlers. Ids that are
// not parked (any more) are ignored.
func (s *adminServer) DiscardParkedEvents(ctx context.Context, req *eventsv1.DiscardParkedEventsRequest) (*eventsv1.DiscardParkedEventsResponse, error) {
	if err := s.checkService(req.GetService()); err != nil {
		return nil, err
	}
	ids, err := parseIDs(req.GetIds(), true)
	if err != nil {
		return nil, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM parked_events WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("discard parked events: %w", err)
	}
	return &eventsv1.DiscardParkedEventsResponse{DiscardedCount: int32(tag.RowsAffected())}, nil
}

// replayGroup is the consumer, source and key whose events are replayed in order.
type replayGroup struct {
	consumer, source, key string
}

// replayTarget is a parked event to replay.
type replayTarget struct {
	replayGroup
	id  int64
	seq int64
}

// replayTargets returns the parked events among ids in replay order: grouped by
// consumer, source and key, oldest first within each.
func (s *adminServer) replayTargets(ctx context.Context, ids []int64) ([]replayTarget, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, consumer, source, key, seq FROM parked_events WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read parked events: %w", err)
	}
	targets, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (replayTarget, error) {
		var t replayTarget
		err := row.Scan(&t.id, &t.consumer, &t.source, &t.key, &t.seq)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read parked events: %w", err)
	}
	slices.SortFunc(targets, func(a, b replayTarget) int {
		return cmp.Or(cmp.Compare(a.consumer, b.consumer), cmp.Compare(a.source, b.source),
			cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq), cmp.Compare(a.id, b.id))
	})
	return targets, nil
}

// replayOutcome is what became of one parked event in a replay.
type replayOutcome int

const (
	replayed      replayOutcome = iota // applied and removed
	replayFailed                       // the handler failed again; the error is recorded
	replayBlocked                      // an older event of its key is still parked
	replayGone                         // no longer parked (replayed or discarded meanwhile)
)

// replayOne runs the handler for parked event id in a transaction that deletes it. The
// delete locks the row, so concurrent replays of the same event apply it once.
func (s *adminServer) replayOne(ctx context.Context, id int64) (replayOutcome, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return 0, fmt.Errorf("replay parked event %d: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var r parkedRow
	err = tx.QueryRow(ctx, `DELETE FROM parked_events WHERE id = $1 RETURNING `+parkedColumns, id).Scan(r.scanDest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return replayGone, nil
	}
	if err != nil {
		return 0, fmt.Errorf("replay parked event %d: %w", id, err)
	}
	if r.key != "" {
		var older bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM parked_events
			WHERE consumer = $1 AND source = $2 AND key = $3 AND seq < $4)`, r.consumer, r.source, r.key, r.seq).Scan(&older)
		if err != nil {
			return 0, fmt.Errorf("replay parked event %d: %w", id, err)
		}
		if older {
			return replayBlocked, nil
		}
	}
	ev := r.event()
	hctx, span := s.tracer.start(ctx, r.source, ev, false)
	herr := safeCall(hctx, s.handlers[r.consumer], tx, ev)
	endSpan(span, herr)
	if herr == nil {
		if err := tx.Commit(ctx); err != nil {
			return 0, fmt.Errorf("replay parked event %d: commit: %w", id, err)
		}
		return replayed, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	_ = tx.Rollback(ctx)
	_, err = s.pool.Exec(ctx, `UPDATE parked_events SET error = $2, attempts = attempts + 1 WHERE id = $1`, id, herr.Error())
	if err != nil {
		return 0, fmt.Errorf("replay parked event %d: record error: %w", id, err)
	}
	return replayFailed, nil
}

// checkService rejects a request meant for another service.
func (s *adminServer) checkService(service string) error {
	if service != "" && service != s.service {
		return invalidArgument("service", fmt.Sprintf("this is service %q, not %q", s.service, service))
	}
	return nil
}

// parseIDs parses parked event ids, rejecting malformed ones, too many, and (when
// required) none.
func parseIDs(raw []string, required bool) ([]int64, error) {
	if required && len(raw) == 0 {
		return nil, invalidArgument("ids", "at least one id is required")
	}
	if len(raw) > MaxIDs {
		return nil, invalidArgument("ids", fmt.Sprintf("at most %d ids per call", MaxIDs))
	}
	ids := make([]int64, 0, len(raw))
	for i, s := range raw {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, invalidArgument(fmt.Sprintf("ids[%d]", i), fmt.Sprintf("%q is not a parked event id", s))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func encodePageToken(lastID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatInt(lastID, 10)))
}

// decodePageToken returns the id after which a page starts; the empty token starts at 0.
func decodePageToken(token string) (int64, error) {
	if token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(b), pageTokenPrefix)
	if !ok {
		return 0, errors.New("bad page token prefix")
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 {
		return 0, errors.New("bad page token id")
	}
	return id, nil
}

// invalidArgument is INVALID_ARGUMENT with a BadRequest detail naming field.
func invalidArgument(field, description string) error {
	st := status.New(codes.InvalidArgument, field+": "+description)
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Description: description},
	}}); err == nil {
		st = d
	}
	return st.Err()
}

// Compile-time check.
var _ eventsv1.ConsumerAdminServiceServer = (*adminServer)(nil)
