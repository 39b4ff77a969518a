// Package notificationgrpc is the notification service's gRPC transport, and only that:
// handlers that authenticate, convert, call the notification use cases and convert back.
// Errors are the domain's (kit/errs); kit/grpcserver's interceptor turns them into
// statuses, once.
package notificationgrpc

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/page"
	"github.com/waybill/waybill/services/notification/notification"
)

// Server implements notificationv1.NotificationServiceServer.
type Server struct {
	notificationv1.UnimplementedNotificationServiceServer
	svc *notification.Service
}

// New returns a server on svc.
func New(svc *notification.Service) *Server { return &Server{svc: svc} }

// ListNotifications implements notificationv1.NotificationServiceServer.
func (s *Server) ListNotifications(ctx context.Context, req *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := page.Limit(int(req.GetPageSize()), 50, 500)
	if err != nil {
		return nil, err
	}
	st, ok := statusFromProto[req.GetStatus()]
	if !ok {
		return nil, errs.Invalid("status", "is not a known status")
	}
	msgs, next, err := s.svc.List(ctx, c, notification.Filter{CustomerID: req.GetCustomerId(), Status: st}, req.GetPageToken(), limit)
	if err != nil {
		return nil, err
	}
	out := &notificationv1.ListNotificationsResponse{NextPageToken: next}
	for _, m := range msgs {
		out.Notifications = append(out.Notifications, toProto(m))
	}
	return out, nil
}

// GetNotification implements notificationv1.NotificationServiceServer.
func (s *Server) GetNotification(ctx context.Context, req *notificationv1.GetNotificationRequest) (*notificationv1.GetNotificationResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, c, req.GetNotificationId())
	if err != nil {
		return nil, err
	}
	return &notificationv1.GetNotificationResponse{Notification: toProto(m)}, nil
}

// RetryNotification implements notificationv1.NotificationServiceServer.
func (s *Server) RetryNotification(ctx context.Context, req *notificationv1.RetryNotificationRequest) (*notificationv1.RetryNotificationResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Retry(ctx, c, req.GetNotificationId())
	if err != nil {
		return nil, err
	}
	return &notificationv1.RetryNotificationResponse{Notification: toProto(m)}, nil
}

// DiscardNotification implements notificationv1.NotificationServiceServer.
func (s *Server) DiscardNotification(ctx context.Context, req *notificationv1.DiscardNotificationRequest) (*notificationv1.DiscardNotificationResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Discard(ctx, c, req.GetNotificationId())
	if err != nil {
		return nil, err
	}
	return &notificationv1.DiscardNotificationResponse{Notification: toProto(m)}, nil
}

var statusFromProto = map[notificationv1.NotificationStatus]notification.Status{
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_UNSPECIFIED: "",
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_PENDING:     notification.Pending,
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENDING:     notification.Sending,
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_SENT:        notification.Sent,
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_PARKED:      notification.Parked,
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_DISCARDED:   notification.Discarded,
	notificationv1.NotificationStatus_NOTIFICATION_STATUS_SKIPPED:     notification.Skipped,
}

var statusToProto = func() map[notification.Status]notificationv1.NotificationStatus {
	m := map[notification.Status]notificationv1.NotificationStatus{}
	for k, v := range statusFromProto {
		if v != "" {
			m[v] = k
		}
	}
	return m
}()

func ts(t interface{ IsZero() bool }, p *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return p
}

// toProto converts a message.
func toProto(m notification.Message) *notificationv1.Notification {
	ch := notificationv1.NotificationChannel_NOTIFICATION_CHANNEL_EMAIL
	if m.Channel == notification.SMS {
		ch = notificationv1.NotificationChannel_NOTIFICATION_CHANNEL_SMS
	}
	out := &notificationv1.Notification{Id: m.ID, EventId: m.EventID, EventType: m.EventType, CustomerId: m.CustomerID,
		Channel: ch, Address: m.Address, Locale: m.Locale, Subject: m.Subject, Body: m.Text, Status: statusToProto[m.Status],
		Attempts: int32(m.Attempts), LastError: m.LastError, CreateTime: timestamppb.New(m.CreatedAt),
		SendTime: ts(m.SentAt, timestamppb.New(m.SentAt))}
	if m.Status == notification.Pending {
		out.NextAttemptTime = timestamppb.New(m.NextAt)
	}
	return out
}

// MessageEvent returns the payload of a message's events, for the store
// (notificationpg.Options.MessageEvent).
func MessageEvent(m notification.Message) proto.Message {
	return &notificationv1.NotificationEvent{Notification: toProto(m)}
}
