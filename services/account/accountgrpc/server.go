// Package accountgrpc is the account service's gRPC transport, and only that: handlers
// that authenticate, convert, call the account domain and convert back. Errors are the
// domain's (kit/errs); kit/grpcserver's interceptor turns them into statuses, once.
// accountapp wires it.
package accountgrpc

import (
	"context"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/account/account"
)

// Server implements accountv1.AccountServiceServer on the account domain service.
type Server struct {
	accountv1.UnimplementedAccountServiceServer
	svc *account.Service
}

// New returns a server on svc.
func New(svc *account.Service) *Server { return &Server{svc: svc} }

// CreateAccount implements accountv1.AccountServiceServer.
func (s *Server) CreateAccount(ctx context.Context, req *accountv1.CreateAccountRequest) (*accountv1.CreateAccountResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetAccount() == nil {
		return nil, errs.Invalid("account", "is required")
	}
	var prefs *account.Preferences
	if p := req.GetAccount().GetPreferences(); p != nil {
		in := preferencesOver(account.DefaultPreferences(), p)
		prefs = &in
	}
	a, err := s.svc.CreateAccount(ctx, c, accountIn(req.GetAccount()), prefs, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.CreateAccountResponse{Account: accountOut(a, viewFull)}, nil
}

// GetAccount implements accountv1.AccountServiceServer.
func (s *Server) GetAccount(ctx context.Context, req *accountv1.GetAccountRequest) (*accountv1.GetAccountResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	v, err := viewIn(req.GetView())
	if err != nil {
		return nil, err
	}
	a, err := s.svc.GetAccount(ctx, c, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return &accountv1.GetAccountResponse{Account: accountOut(a, v)}, nil
}

// ListAccounts implements accountv1.AccountServiceServer.
func (s *Server) ListAccounts(ctx context.Context, req *accountv1.ListAccountsRequest) (*accountv1.ListAccountsResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	v, err := viewIn(req.GetView())
	if err != nil {
		return nil, err
	}
	status, ok := statusIn(req.GetStatus())
	if !ok {
		return nil, errs.Invalid("status", "is not a known account status")
	}
	p, err := s.svc.ListAccounts(ctx, c, account.Filter{Status: status}, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	out := &accountv1.ListAccountsResponse{NextPageToken: p.NextPageToken}
	for _, a := range p.Accounts {
		out.Accounts = append(out.Accounts, accountOut(a, v))
	}
	return out, nil
}

// UpdateAccount implements accountv1.AccountServiceServer.
func (s *Server) UpdateAccount(ctx context.Context, req *accountv1.UpdateAccountRequest) (*accountv1.UpdateAccountResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetAccount() == nil {
		return nil, errs.Invalid("account", "is required")
	}
	if req.GetUpdateMask() == nil {
		return nil, errs.Invalid("update_mask", "is required")
	}
	a, err := s.svc.UpdateAccount(ctx, c, accountIn(req.GetAccount()), req.GetUpdateMask().GetPaths(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.UpdateAccountResponse{Account: accountOut(a, viewFull)}, nil
}

// SuspendAccount implements accountv1.AccountServiceServer.
func (s *Server) SuspendAccount(ctx context.Context, req *accountv1.SuspendAccountRequest) (*accountv1.SuspendAccountResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.SuspendAccount(ctx, c, req.GetAccountId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.SuspendAccountResponse{Account: accountOut(a, viewFull)}, nil
}

// ReinstateAccount implements accountv1.AccountServiceServer.
func (s *Server) ReinstateAccount(ctx context.Context, req *accountv1.ReinstateAccountRequest) (*accountv1.ReinstateAccountResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.ReinstateAccount(ctx, c, req.GetAccountId(), req.GetReason(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.ReinstateAccountResponse{Account: accountOut(a, viewFull)}, nil
}

// SendVerificationCode implements accountv1.AccountServiceServer.
func (s *Server) SendVerificationCode(ctx context.Context, req *accountv1.SendVerificationCodeRequest) (*accountv1.SendVerificationCodeResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	sent, err := s.svc.SendVerificationCode(ctx, c, req.GetAccountId(), account.ContactKind(req.GetKind()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.SendVerificationCodeResponse{
		MaskedDestination: sent.MaskedDestination, ExpireTime: timestamp(sent.ExpireTime), ResendTime: timestamp(sent.ResendTime),
	}, nil
}

// VerifyContact implements accountv1.AccountServiceServer.
func (s *Server) VerifyContact(ctx context.Context, req *accountv1.VerifyContactRequest) (*accountv1.VerifyContactResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.VerifyContact(ctx, c, req.GetAccountId(), account.ContactKind(req.GetKind()), req.GetCode(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.VerifyContactResponse{Account: accountOut(a, viewFull)}, nil
}

// DeleteAccount implements accountv1.AccountServiceServer.
func (s *Server) DeleteAccount(ctx context.Context, req *accountv1.DeleteAccountRequest) (*accountv1.DeleteAccountResponse, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.DeleteAccount(ctx, c, req.GetAccountId(), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return &accountv1.DeleteAccountResponse{Account: accountOut(a, viewFull)}, nil
}
