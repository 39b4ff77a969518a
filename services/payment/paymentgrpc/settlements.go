package paymentgrpc

import (
	"context"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/payment/payment"
)

// RunSettlement settles a date.
func (s *Server) RunSettlement(ctx context.Context, req *paymentv1.RunSettlementRequest) (*paymentv1.RunSettlementResponse, error) {
	date := dateIn(req.GetSettlementDate())
	if date == nil {
		date = &payment.Date{} // invalid: the domain names settlement_date, after checking the caller
	}
	st, err := s.svc.RunSettlement(ctx, callerOf(ctx), *date, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.RunSettlementResponse{Settlement: settlementToProto(st)}, nil
}

// GetSettlement returns one settlement.
func (s *Server) GetSettlement(ctx context.Context, req *paymentv1.GetSettlementRequest) (*paymentv1.GetSettlementResponse, error) {
	st, err := s.svc.GetSettlement(ctx, callerOf(ctx), req.GetSettlementId())
	if err != nil {
		return nil, err
	}
	return &paymentv1.GetSettlementResponse{Settlement: settlementToProto(st)}, nil
}

// ListSettlements lists settlements, latest date first.
func (s *Server) ListSettlements(ctx context.Context, req *paymentv1.ListSettlementsRequest) (*paymentv1.ListSettlementsResponse, error) {
	f := payment.SettlementFilter{Start: dateIn(req.GetStartDate()), End: dateIn(req.GetEndDate())}
	for _, st := range req.GetStatuses() {
		d, ok := inverse(settlementStatuses, st)
		if !ok {
			return nil, errs.Invalid("statuses", "must hold defined statuses")
		}
		f.Statuses = append(f.Statuses, d)
	}
	sts, next, err := s.svc.ListSettlements(ctx, callerOf(ctx), f, payment.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &paymentv1.ListSettlementsResponse{NextPageToken: next, Settlements: make([]*paymentv1.Settlement, len(sts))}
	for i, st := range sts {
		resp.Settlements[i] = settlementToProto(st)
	}
	return resp, nil
}
