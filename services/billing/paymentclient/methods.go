package paymentclient

import (
	"context"
	"fmt"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/services/billing/billing"
)

var _ billing.RideMethods = (*Client)(nil)

// maxMethods is how many of a rider's payment methods a ride collection tries.
const maxMethods = 5

// ActiveMethods implements billing.RideMethods: the customer's active payment methods,
// newest first (the payment service's order), at most maxMethods.
func (c *Client) ActiveMethods(ctx context.Context, customerID string) ([]string, error) {
	resp, err := c.api.ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{CustomerId: customerID,
		Statuses: []paymentv1.PaymentMethodStatus{paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE}, PageSize: maxMethods})
	if err != nil {
		return nil, fmt.Errorf("list payment methods of %s: %w", customerID, grpcerr.FromStatus(err))
	}
	out := make([]string, 0, len(resp.GetPaymentMethods()))
	for _, m := range resp.GetPaymentMethods() {
		out = append(out, m.GetId())
	}
	return out, nil
}
