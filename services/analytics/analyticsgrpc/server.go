// Package analyticsgrpc is the analytics service's gRPC transport, and only that:
// handlers that authenticate, validate and convert requests, call the analytics domain
// and convert back. Errors are the domain's (kit/errs); kit/grpcserver's interceptor
// turns them into statuses, once.
package analyticsgrpc

import (
	"context"

	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/page"
	"github.com/waybill/waybill/services/analytics/analytics"
)

// Server implements analyticsv1.AnalyticsServiceServer on the analytics use cases.
type Server struct {
	analyticsv1.UnimplementedAnalyticsServiceServer
	svc *analytics.Service
}

// New returns a server on svc.
func New(svc *analytics.Service) *Server { return &Server{svc: svc} }

// QueryKpis implements analyticsv1.AnalyticsServiceServer.
func (s *Server) QueryKpis(ctx context.Context, req *analyticsv1.QueryKpisRequest) (*analyticsv1.QueryKpisResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	q, err := queryFromProto(req)
	if err != nil {
		return nil, err
	}
	rows, err := s.svc.KPIs(ctx, c, q)
	if err != nil {
		return nil, err
	}
	out := &analyticsv1.QueryKpisResponse{Rows: make([]*analyticsv1.KpiRow, len(rows))}
	for i, r := range rows {
		out.Rows[i] = rowToProto(r)
	}
	return out, nil
}

// ListAnalyticsAlerts implements analyticsv1.AnalyticsServiceServer.
func (s *Server) ListAnalyticsAlerts(ctx context.Context, req *analyticsv1.ListAnalyticsAlertsRequest) (*analyticsv1.ListAnalyticsAlertsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := page.Limit(int(req.GetPageSize()), 100, 500)
	if err != nil {
		return nil, err
	}
	alerts, err := s.svc.Alerts(ctx, c, req.GetOpenOnly(), limit)
	if err != nil {
		return nil, err
	}
	out := &analyticsv1.ListAnalyticsAlertsResponse{Alerts: make([]*analyticsv1.AnalyticsAlert, len(alerts))}
	for i, a := range alerts {
		out.Alerts[i] = alertToProto(a)
	}
	return out, nil
}
