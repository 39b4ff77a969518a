package billinggrpc

import (
	"context"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/services/billing/billing"
)

// adminGuard lets only operators and services use the ConsumerAdminService of billing's
// consumers: parked events carry other customers' data.
type adminGuard struct {
	eventsv1.ConsumerAdminServiceServer
}

func requirePrivileged(ctx context.Context) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	if !c.Privileged() {
		return toStatus(&billing.ReasonError{Kind: billing.ErrPermissionDenied, Reason: billing.ReasonPermissionDenied,
			Message: "only operators and services may manage parked events"})
	}
	return nil
}

// ListParkedEvents implements eventsv1.ConsumerAdminServiceServer.
func (g adminGuard) ListParkedEvents(ctx context.Context, req *eventsv1.ListParkedEventsRequest) (*eventsv1.ListParkedEventsResponse, error) {
	if err := requirePrivileged(ctx); err != nil {
		return nil, err
	}
	return g.ConsumerAdminServiceServer.ListParkedEvents(ctx, req)
}

// ReplayParkedEvents implements eventsv1.ConsumerAdminServiceServer.
func (g adminGuard) ReplayParkedEvents(ctx context.Context, req *eventsv1.ReplayParkedEventsRequest) (*eventsv1.ReplayParkedEventsResponse, error) {
	if err := requirePrivileged(ctx); err != nil {
		return nil, err
	}
	return g.ConsumerAdminServiceServer.ReplayParkedEvents(ctx, req)
}

// DiscardParkedEvents implements eventsv1.ConsumerAdminServiceServer.
func (g adminGuard) DiscardParkedEvents(ctx context.Context, req *eventsv1.DiscardParkedEventsRequest) (*eventsv1.DiscardParkedEventsResponse, error) {
	if err := requirePrivileged(ctx); err != nil {
		return nil, err
	}
	return g.ConsumerAdminServiceServer.DiscardParkedEvents(ctx, req)
}
