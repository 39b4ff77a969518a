package billinggrpc

import (
	"context"
	"time"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/services/billing/billing"
)

// Server implements billingv1.BillingServiceServer on the billing domain service.
type Server struct {
	billingv1.UnimplementedBillingServiceServer
	svc       *billing.Service
	providers freshnessSource
	events    eventsv1.EventStreamServiceServer
	head      func(ctx context.Context) (int64, error)
	heartbeat time.Duration
}

// freshnessSource reports the providers and their freshness, for WatchBills.
type freshnessSource interface {
	Names() []string
	Freshness(provider string) billing.Freshness
}

// caller returns the caller, or UNAUTHENTICATED for anonymous calls.
func caller(ctx context.Context) (billing.Caller, error) {
	id, err := auth.Require(ctx)
	if err != nil {
		return billing.Caller{}, err
	}
	return callerOf(id), nil
}

// CreateBill implements billingv1.BillingServiceServer.
func (s *Server) CreateBill(ctx context.Context, req *billingv1.CreateBillRequest) (*billingv1.CreateBillResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.CreateBill(ctx, c, billing.NewBill{CustomerID: req.GetCustomerId(), Currency: req.GetCurrencyCode(),
		SubStatus: req.GetSubStatus()}, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.CreateBillResponse{Bill: billToProto(b)}, nil
}

// GetBill implements billingv1.BillingServiceServer.
func (s *Server) GetBill(ctx context.Context, req *billingv1.GetBillRequest) (*billingv1.GetBillResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.GetBill(ctx, c, req.GetBillId(), viewOf(req.GetView()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.GetBillResponse{Bill: billToProto(b)}, nil
}

// ListBills implements billingv1.BillingServiceServer.
func (s *Server) ListBills(ctx context.Context, req *billingv1.ListBillsRequest) (*billingv1.ListBillsResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	q := billing.ListQuery{
		Filter:   billing.ListFilter{Statuses: statusesOf(req.GetStatuses()), CustomerID: req.GetCustomerId()},
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), View: viewOf(req.GetView()),
	}
	if ts := req.GetChangedSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return nil, toStatus(billing.Invalid("changed_since", "not a valid time"))
		}
		q.Filter.ChangedSince = ts.AsTime().UTC()
	}
	page, err := s.svc.ListBills(ctx, c, q)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &billingv1.ListBillsResponse{NextPageToken: page.NextPageToken, Bills: make([]*billingv1.Bill, 0, len(page.Bills))}
	for _, b := range page.Bills {
		resp.Bills = append(resp.Bills, billToProto(b))
	}
	return resp, nil
}

// AddBillItem implements billingv1.BillingServiceServer.
func (s *Server) AddBillItem(ctx context.Context, req *billingv1.AddBillItemRequest) (*billingv1.AddBillItemResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, itemID, err := s.svc.AddItem(ctx, c, req.GetBillId(), billing.Kind(req.GetKind()), req.GetReservationId(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.AddBillItemResponse{Bill: billToProto(b), ItemId: itemID}, nil
}

// RemoveBillItem implements billingv1.BillingServiceServer.
func (s *Server) RemoveBillItem(ctx context.Context, req *billingv1.RemoveBillItemRequest) (*billingv1.RemoveBillItemResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.RemoveItem(ctx, c, req.GetBillId(), req.GetItemId(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.RemoveBillItemResponse{Bill: billToProto(b)}, nil
}

// FinalizeBill implements billingv1.BillingServiceServer.
func (s *Server) FinalizeBill(ctx context.Context, req *billingv1.FinalizeBillRequest) (*billingv1.FinalizeBillResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.Finalize(ctx, c, req.GetBillId(), req.GetExpectedVersion(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.FinalizeBillResponse{Bill: billToProto(b)}, nil
}

// CancelBill implements billingv1.BillingServiceServer.
func (s *Server) CancelBill(ctx context.Context, req *billingv1.CancelBillRequest) (*billingv1.CancelBillResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.Cancel(ctx, c, req.GetBillId(), req.GetReason(), req.GetExpectedVersion(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.CancelBillResponse{Bill: billToProto(b)}, nil
}

// PayBill implements billingv1.BillingServiceServer: it starts the pay saga, which the
// saga runner then drives.
func (s *Server) PayBill(ctx context.Context, req *billingv1.PayBillRequest) (*billingv1.PayBillResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.PayBill(ctx, c, req.GetBillId(), req.GetPaymentMethodId(), req.GetExpectedVersion(), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.PayBillResponse{Bill: billToProto(b)}, nil
}

// SetBillSubStatus implements billingv1.BillingServiceServer.
func (s *Server) SetBillSubStatus(ctx context.Context, req *billingv1.SetBillSubStatusRequest) (*billingv1.SetBillSubStatusResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.SetSubStatus(ctx, c, req.GetBillId(), req.GetSubStatus(), req.GetExpectedVersion())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.SetBillSubStatusResponse{Bill: billToProto(b)}, nil
}

// GetCustomerBalance implements billingv1.BillingServiceServer.
func (s *Server) GetCustomerBalance(ctx context.Context, req *billingv1.GetCustomerBalanceRequest) (*billingv1.GetCustomerBalanceResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.CustomerBalance(ctx, c, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.GetCustomerBalanceResponse{Balance: balanceToProto(b)}, nil
}

// GetAccountStanding implements billingv1.BillingServiceServer.
func (s *Server) GetAccountStanding(ctx context.Context, req *billingv1.GetAccountStandingRequest) (*billingv1.GetAccountStandingResponse, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.AccountStanding(ctx, c, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &billingv1.GetAccountStandingResponse{Standing: standingToProto(st)}, nil
}
