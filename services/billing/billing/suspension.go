package billing

import "context"

// CustomerGate says whether a customer may pay: the account service's suspensions, as
// billing's own read model of them holds them (kit/accountgate). CheckCustomer returns
// nil for a customer in good standing and FAILED_PRECONDITION (reason
// CUSTOMER_SUSPENDED) for a suspended one.
type CustomerGate interface {
	CheckCustomer(ctx context.Context, customerID string) error
}

// checkCustomer refuses a suspended customer; without a gate everyone is admitted.
func (s *Service) checkCustomer(ctx context.Context, customerID string) error {
	if s.opts.Gate == nil {
		return nil
	}
	return s.opts.Gate.CheckCustomer(ctx, customerID)
}
