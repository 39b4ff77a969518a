// Package consumeradmin serves the ConsumerAdminService of a service that consumes
// events: operators list, replay and discard the events its consumers parked
// (kit/consumer's Parking). Every consuming service registers it with one call, and the
// gateway routes /v1/admin/{service}/parkedEvents to it by the service's name:
//
//	consumeradmin.Register(srv.GRPC, "billing", parking)
//
// Only operators and services may call it, since parked events carry other customers'
// data; the check is made here, once for every service. Errors are kit/errs errors, which
// kit/grpcserver's interceptor turns into statuses.
package consumeradmin

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/page"
)

// Limits of the RPCs.
const (
	// DefaultPageSize is ListParkedEvents' page size when the request gives none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page ListParkedEvents returns; larger requests get
	// pages of this size.
	MaxPageSize = 1000
	// MaxIDs is the most ids one Replay or Discard call may name.
	MaxIDs = 1000
)

// Server serves ConsumerAdminService on one consuming service's Parking.
type Server struct {
	eventsv1.UnimplementedConsumerAdminServiceServer

	service string
	parking *consumer.Parking
}

// New returns the ConsumerAdminService of the service named service, over its
// consumers' dead-letter queue. Requests whose service field is neither empty nor
// service are rejected, so that the gateway can route by it.
func New(service string, parking *consumer.Parking) *Server {
	return &Server{service: service, parking: parking}
}

// Register registers New(service, parking) on s.
func Register(s grpc.ServiceRegistrar, service string, parking *consumer.Parking) {
	eventsv1.RegisterConsumerAdminServiceServer(s, New(service, parking))
}

// ListParkedEvents lists parked events, oldest first, a page at a time (kit/page's size
// rule and tokens, which hold the consumer filter they were issued for).
func (s *Server) ListParkedEvents(ctx context.Context, req *eventsv1.ListParkedEventsRequest) (*eventsv1.ListParkedEventsResponse, error) {
	if err := s.authorize(ctx, req.GetService()); err != nil {
		return nil, err
	}
	size, err := page.Limit(int(req.GetPageSize()), DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, err
	}
	filter := page.Fingerprint(req.GetConsumer())
	var after int64 // the id of the previous page's last event
	if _, err := page.Decode(req.GetPageToken(), filter, &after); err != nil {
		return nil, err
	}
	list, err := s.parking.List(ctx, req.GetConsumer(), after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &eventsv1.ListParkedEventsResponse{}
	if len(list) > size {
		list = list[:size]
		resp.NextPageToken = page.Encode(list[size-1].ID, filter)
	}
	for _, p := range list {
		resp.ParkedEvents = append(resp.ParkedEvents, parkedToProto(p))
	}
	return resp, nil
}

// ReplayParkedEvents runs the consumers' handlers again for the given parked events, or
// for all of them (of one consumer, when given), as consumer.Parking.Replay does.
func (s *Server) ReplayParkedEvents(ctx context.Context, req *eventsv1.ReplayParkedEventsRequest) (*eventsv1.ReplayParkedEventsResponse, error) {
	if err := s.authorize(ctx, req.GetService()); err != nil {
		return nil, err
	}
	ids, err := parseIDs(req.GetIds(), false)
	if err != nil {
		return nil, err
	}
	res, err := s.parking.Replay(ctx, req.GetConsumer(), ids)
	if err != nil {
		return nil, err
	}
	return &eventsv1.ReplayParkedEventsResponse{ReplayedCount: int32(res.Replayed), FailedCount: int32(res.Failed)}, nil
}

// DiscardParkedEvents removes parked events without running their handlers. Ids that are
// not parked (any more) are ignored.
func (s *Server) DiscardParkedEvents(ctx context.Context, req *eventsv1.DiscardParkedEventsRequest) (*eventsv1.DiscardParkedEventsResponse, error) {
	if err := s.authorize(ctx, req.GetService()); err != nil {
		return nil, err
	}
	ids, err := parseIDs(req.GetIds(), true)
	if err != nil {
		return nil, err
	}
	n, err := s.parking.Discard(ctx, ids)
	if err != nil {
		return nil, err
	}
	return &eventsv1.DiscardParkedEventsResponse{DiscardedCount: int32(n)}, nil
}

// authorize lets only operators and services through, and rejects a request meant for
// another service.
func (s *Server) authorize(ctx context.Context, service string) error {
	id, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if !id.Privileged() {
		return errs.Denied("", "only operators and services may manage parked events")
	}
	if service != "" && service != s.service {
		return errs.Invalid("service", "this is service %q, not %q", s.service, service)
	}
	return nil
}

// parseIDs parses parked event ids, rejecting malformed ones, too many, and (when
// required) none.
func parseIDs(raw []string, required bool) ([]int64, error) {
	if required && len(raw) == 0 {
		return nil, errs.Invalid("ids", "at least one id is required")
	}
	if len(raw) > MaxIDs {
		return nil, errs.Invalid("ids", "at most %d ids per call", MaxIDs)
	}
	ids := make([]int64, 0, len(raw))
	for i, s := range raw {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, errs.Invalid("ids["+strconv.Itoa(i)+"]", "%q is not a parked event id", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// parkedToProto converts a parked event for ListParkedEvents.
func parkedToProto(p consumer.Parked) *eventsv1.ParkedEvent {
	return &eventsv1.ParkedEvent{
		Id:       strconv.FormatInt(p.ID, 10),
		Consumer: p.Consumer,
		Source:   p.Source,
		Event:    p.Event,
		Error:    p.Error,
		Attempts: int32(p.Attempts),
		ParkTime: timestamppb.New(p.ParkedAt),
	}
}

// Compile-time check.
var _ eventsv1.ConsumerAdminServiceServer = (*Server)(nil)
