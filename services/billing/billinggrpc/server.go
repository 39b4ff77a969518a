// Package billinggrpc is the billing service's gRPC transport: handlers that take the
// caller from the call, convert the request, call the domain (package billing) and
// convert back. Domain errors are returned as they are: kit/grpcserver's interceptor
// translates them, once, with the ErrorInfo domain "billing.waybill.dev". The billing
// service owns bills across providers, the operator panel's read model and the pay saga;
// billingapp builds it and registers this transport.
package billinggrpc

import (
	"context"
	"time"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/billing/billing"
)

// Providers reports the providers and their freshness, for WatchBills.
type Providers interface {
	// Names returns the providers' names.
	Names() []string
	// Freshness returns how current billing's summaries of provider's items are.
	Freshness(provider string) billing.Freshness
}

// Options is what the transport needs besides the domain service.
type Options struct {
	// Providers reports the providers' freshness, for WatchBills. Required.
	Providers Providers
	// Events is billing's own EventStreamService, which WatchBills reads in process.
	// Required.
	Events eventsv1.EventStreamServiceServer
	// Head returns the position of billing's log that covers every committed change, for
	// the snapshot of WatchBills. Required.
	Head func(ctx context.Context) (int64, error)
	// Heartbeat is WatchBills' heartbeat interval; 0 means 15 s.
	Heartbeat time.Duration
}

// Server implements billingv1.BillingServiceServer on the billing domain service.
type Server struct {
	billingv1.UnimplementedBillingServiceServer
	svc  *billing.Service
	opts Options
}

// New returns the BillingService on svc.
func New(svc *billing.Service, opts Options) *Server {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = watchHeartbeat
	}
	return &Server{svc: svc, opts: opts}
}

// CreateBill implements billingv1.BillingServiceServer.
func (s *Server) CreateBill(ctx context.Context, req *billingv1.CreateBillRequest) (*billingv1.CreateBillResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.CreateBill(ctx, c, billing.NewBill{CustomerID: req.GetCustomerId(), Currency: req.GetCurrencyCode(),
		SubStatus: req.GetSubStatus()}, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.CreateBillResponse{Bill: billToProto(b)}, nil
}

// GetBill implements billingv1.BillingServiceServer.
func (s *Server) GetBill(ctx context.Context, req *billingv1.GetBillRequest) (*billingv1.GetBillResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.GetBill(ctx, c, req.GetBillId(), viewOf(req.GetView()))
	if err != nil {
		return nil, err
	}
	return &billingv1.GetBillResponse{Bill: billToProto(b)}, nil
}

// ListBills implements billingv1.BillingServiceServer.
func (s *Server) ListBills(ctx context.Context, req *billingv1.ListBillsRequest) (*billingv1.ListBillsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	q := billing.ListQuery{
		Filter:   billing.ListFilter{Statuses: statusesOf(req.GetStatuses()), CustomerID: req.GetCustomerId()},
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), View: viewOf(req.GetView()),
	}
	if ts := req.GetChangedSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return nil, errs.Invalid("changed_since", "is not a valid time")
		}
		q.Filter.ChangedSince = ts.AsTime().UTC()
	}
	page, err := s.svc.ListBills(ctx, c, q)
	if err != nil {
		return nil, err
	}
	resp := &billingv1.ListBillsResponse{NextPageToken: page.NextPageToken, Bills: make([]*billingv1.Bill, 0, len(page.Bills))}
	for _, b := range page.Bills {
		resp.Bills = append(resp.Bills, billToProto(b))
	}
	return resp, nil
}

// AddBillItem implements billingv1.BillingServiceServer.
func (s *Server) AddBillItem(ctx context.Context, req *billingv1.AddBillItemRequest) (*billingv1.AddBillItemResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, itemID, err := s.svc.AddItem(ctx, c, req.GetBillId(), billing.Kind(req.GetKind()), req.GetReservationId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.AddBillItemResponse{Bill: billToProto(b), ItemId: itemID}, nil
}

// RemoveBillItem implements billingv1.BillingServiceServer.
func (s *Server) RemoveBillItem(ctx context.Context, req *billingv1.RemoveBillItemRequest) (*billingv1.RemoveBillItemResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.RemoveItem(ctx, c, req.GetBillId(), req.GetItemId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.RemoveBillItemResponse{Bill: billToProto(b)}, nil
}

// FinalizeBill implements billingv1.BillingServiceServer.
func (s *Server) FinalizeBill(ctx context.Context, req *billingv1.FinalizeBillRequest) (*billingv1.FinalizeBillResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.Finalize(ctx, c, req.GetBillId(), req.GetExpectedVersion(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.FinalizeBillResponse{Bill: billToProto(b)}, nil
}

// CancelBill implements billingv1.BillingServiceServer.
func (s *Server) CancelBill(ctx context.Context, req *billingv1.CancelBillRequest) (*billingv1.CancelBillResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.Cancel(ctx, c, req.GetBillId(), req.GetReason(), req.GetExpectedVersion(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.CancelBillResponse{Bill: billToProto(b)}, nil
}

// PayBill implements billingv1.BillingServiceServer: it starts the pay saga, which the
// saga runner then drives.
func (s *Server) PayBill(ctx context.Context, req *billingv1.PayBillRequest) (*billingv1.PayBillResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.PayBill(ctx, c, req.GetBillId(), req.GetPaymentMethodId(), req.GetExpectedVersion(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &billingv1.PayBillResponse{Bill: billToProto(b)}, nil
}

// SetBillSubStatus implements billingv1.BillingServiceServer.
func (s *Server) SetBillSubStatus(ctx context.Context, req *billingv1.SetBillSubStatusRequest) (*billingv1.SetBillSubStatusResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.SetSubStatus(ctx, c, req.GetBillId(), req.GetSubStatus(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return &billingv1.SetBillSubStatusResponse{Bill: billToProto(b)}, nil
}

// GetCustomerBalance implements billingv1.BillingServiceServer.
func (s *Server) GetCustomerBalance(ctx context.Context, req *billingv1.GetCustomerBalanceRequest) (*billingv1.GetCustomerBalanceResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.svc.CustomerBalance(ctx, c, req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	return &billingv1.GetCustomerBalanceResponse{Balance: balanceToProto(b)}, nil
}

// GetAccountStanding implements billingv1.BillingServiceServer.
func (s *Server) GetAccountStanding(ctx context.Context, req *billingv1.GetAccountStandingRequest) (*billingv1.GetAccountStandingResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.AccountStanding(ctx, c, req.GetCustomerId())
	if err != nil {
		return nil, err
	}
	return &billingv1.GetAccountStandingResponse{Standing: standingToProto(st)}, nil
}
