// Package matchingclient is trip's adapter to the matching service: starting, reading
// and cancelling matches and releasing drivers, each with a request id, with matching's
// errors re-kinded to what they mean to trip; and the decoding of matching's events that
// trip consumes.
package matchingclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/services/trip/trip"
)

// The event types of matching that trip consumes.
const (
	EventDriverAssigned = "matching.driver.assigned"
	EventMatchFailed    = "matching.match.failed"
)

// Client calls the matching service; it implements trip.Matching.
type Client struct {
	conn *grpc.ClientConn
	api  matchingv1.MatchingServiceClient
}

var _ trip.Matching = (*Client)(nil)

// Dial connects (lazily) to matching at addr; extra carries trip's credentials. Every
// call trip makes is a read or carries a request id, so all are retried on UNAVAILABLE.
func Dial(addr string, extra ...grpc.DialOption) (*Client, error) {
	conn, err := grpcclient.Dial(addr, grpcclient.Options{Timeout: 3 * time.Second, Idempotent: []string{
		"/waybill.matching.v1.MatchingService/CreateMatch", "/waybill.matching.v1.MatchingService/GetMatch",
		"/waybill.matching.v1.MatchingService/CancelMatch", "/waybill.matching.v1.MatchingService/ReleaseDriver",
	}}, extra...)
	if err != nil {
		return nil, fmt.Errorf("matching service %s: %w", addr, err)
	}
	return &Client{conn: conn, api: matchingv1.NewMatchingServiceClient(conn)}, nil
}

// Conn returns the connection, for matching's event stream.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// mapError re-kinds matching's error: what leaves the outcome unknown (UNAVAILABLE, a
// deadline, ABORTED, INTERNAL…) is UNAVAILABLE, MATCHING_UNAVAILABLE; NOT_FOUND and
// FAILED_PRECONDITION keep their kind and reason; anything else is a refusal with no
// kind (INTERNAL to trip's caller: trip sent something matching rejects).
func mapError(op string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Internal,
		codes.Unknown, codes.Canceled:
		return errs.Unreachable(trip.ReasonMatchingUnavailable, "matching: %s: %v", op, status.Convert(err).Message()).WithCause(err)
	}
	e, ok := errs.As(grpcerr.FromStatus(err))
	if !ok {
		return fmt.Errorf("matching: %s: %w", op, err)
	}
	switch e.Kind {
	case errs.NotFound:
		return errs.Missing(e.Reason, "matching: %s: %s", op, e.Message).WithCause(err)
	case errs.FailedPrecondition:
		return errs.Precondition(e.Reason, "matching: %s: %s", op, e.Message).WithCause(err)
	}
	return &errs.Error{Kind: errs.Unknown, Reason: e.Reason, Message: fmt.Sprintf("matching refused %s (%s): %s", op, e.Kind, e.Message), Err: err}
}

// CreateMatch implements trip.Matching.
func (c *Client) CreateMatch(ctx context.Context, r trip.MatchRequest) (trip.Match, error) {
	req := &matchingv1.CreateMatchRequest{
		TripId: r.TripID, Pickup: &typev1.GeoPoint{Latitude: r.Pickup.Lat, Longitude: r.Pickup.Lng}, Product: r.Product,
		MaxAttempts: r.Options.MaxAttempts, SearchRadiusMeters: r.Options.SearchRadiusMeters, FanOut: r.Options.FanOut,
		RequestId: r.RequestID,
	}
	if r.Options.OfferTimeout > 0 {
		req.OfferTimeout = durationpb.New(r.Options.OfferTimeout)
	}
	resp, err := c.api.CreateMatch(ctx, req)
	if err != nil {
		return trip.Match{}, mapError("create match", err)
	}
	return matchOf(resp.GetMatch()), nil
}

// Match implements trip.Matching.
func (c *Client) Match(ctx context.Context, matchID string) (trip.Match, error) {
	resp, err := c.api.GetMatch(ctx, &matchingv1.GetMatchRequest{MatchId: matchID})
	if err != nil {
		return trip.Match{}, mapError("get match", err)
	}
	return matchOf(resp.GetMatch()), nil
}

// CancelMatch implements trip.Matching.
func (c *Client) CancelMatch(ctx context.Context, matchID, reason, requestID string) error {
	_, err := c.api.CancelMatch(ctx, &matchingv1.CancelMatchRequest{MatchId: matchID, Reason: reason, RequestId: requestID})
	if err != nil {
		return mapError("cancel match", err)
	}
	return nil
}

// ReleaseDriver implements trip.Matching.
func (c *Client) ReleaseDriver(ctx context.Context, driverID, tripID, reason, requestID string) error {
	_, err := c.api.ReleaseDriver(ctx, &matchingv1.ReleaseDriverRequest{DriverId: driverID, TripId: tripID, Reason: reason, RequestId: requestID})
	if err != nil {
		return mapError("release driver", err)
	}
	return nil
}

// matchOf converts matching's match.
func matchOf(m *matchingv1.Match) trip.Match {
	out := trip.Match{ID: m.GetId(), TripID: m.GetTripId(), DriverID: m.GetDriverId()}
	switch m.GetStatus() {
	case matchingv1.MatchStatus_MATCH_STATUS_ASSIGNED:
		out.Status = trip.MatchAssigned
	case matchingv1.MatchStatus_MATCH_STATUS_FAILED:
		out.Status = trip.MatchFailed
	case matchingv1.MatchStatus_MATCH_STATUS_CANCELLED:
		out.Status = trip.MatchCancelled
	default:
		out.Status = trip.MatchSearching
	}
	if m.GetAssignTime() != nil {
		out.AssignTime = m.GetAssignTime().AsTime()
	}
	return out
}

// DriverAssigned decodes a matching.driver.assigned event: the trip and the match,
// ASSIGNED to its driver.
func DriverAssigned(ev *eventsv1.Event) (tripID string, m trip.Match, err error) {
	var p matchingv1.DriverAssignedEvent
	if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
		return "", trip.Match{}, fmt.Errorf("decode %s: %w", ev.GetType(), err)
	}
	m = matchOf(p.GetMatch())
	if m.DriverID == "" {
		m.DriverID = p.GetDriver().GetId()
	}
	return p.GetMatch().GetTripId(), m, nil
}

// MatchFailed decodes a matching.match.failed event: the trip and the failed match's id.
func MatchFailed(ev *eventsv1.Event) (tripID, matchID string, err error) {
	var p matchingv1.MatchFailedEvent
	if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
		return "", "", fmt.Errorf("decode %s: %w", ev.GetType(), err)
	}
	return p.GetMatch().GetTripId(), p.GetMatch().GetId(), nil
}
