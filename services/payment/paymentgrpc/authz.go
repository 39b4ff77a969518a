package paymentgrpc

import (
	"context"

	"github.com/waybill/waybill/kit/auth"
)

// requirePrivileged lets only services and operators through: moving money, reconciling,
// sub-statuses and settlements are theirs.
func requirePrivileged(ctx context.Context) error {
	id, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if !id.Privileged() {
		return permissionDenied("only services and operators may make this call")
	}
	return nil
}

// listCustomer returns the customer a list call is scoped to: customers see only their own
// (an empty filter defaults to them), services and operators whatever they ask for, and other
// roles nothing.
func listCustomer(ctx context.Context, asked string) (string, error) {
	id, err := auth.Require(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case id.Privileged():
		return asked, nil
	case id.Role == auth.RoleCustomer && (asked == "" || asked == id.Subject):
		return id.Subject, nil
	}
	return "", permissionDenied("customers may only list their own resources")
}
