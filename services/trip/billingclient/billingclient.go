// Package billingclient is trip's adapter to the billing service: the rider's standing
// (GetAccountStanding), with billing's errors re-kinded to what they mean to trip (a
// callee's INVALID_ARGUMENT is not trip's caller's fault).
package billingclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/services/trip/trip"
)

// Client calls the billing service; it implements trip.Billing.
type Client struct {
	conn *grpc.ClientConn
	api  billingv1.BillingServiceClient
}

var _ trip.Billing = (*Client)(nil)

// Dial connects (lazily) to billing at addr; extra carries trip's credentials.
func Dial(addr string, extra ...grpc.DialOption) (*Client, error) {
	conn, err := grpcclient.Dial(addr, grpcclient.Options{Timeout: 3 * time.Second,
		Idempotent: []string{"/waybill.billing.v1.BillingService/GetAccountStanding"}}, extra...)
	if err != nil {
		return nil, fmt.Errorf("billing service %s: %w", addr, err)
	}
	return &Client{conn: conn, api: billingv1.NewBillingServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Standing implements trip.Billing.
func (c *Client) Standing(ctx context.Context, customerID string) (trip.Standing, error) {
	resp, err := c.api.GetAccountStanding(ctx, &billingv1.GetAccountStandingRequest{CustomerId: customerID})
	if err != nil {
		e := grpcerr.FromStatus(err)
		switch errs.KindOf(e) {
		case errs.Unavailable, errs.Aborted, errs.ResourceExhausted, errs.Unknown:
			return 0, errs.Unreachable(trip.ReasonBillingUnavailable, "billing: get account standing: %v", e).WithCause(err)
		}
		return 0, &errs.Error{Kind: errs.Unknown, Message: fmt.Sprintf("billing refused GetAccountStanding: %v", e), Err: err} // INTERNAL to our caller
	}
	switch resp.GetStanding().GetStanding() {
	case billingv1.Standing_STANDING_BLOCKED:
		return trip.StandingBlocked, nil
	case billingv1.Standing_STANDING_PAST_DUE:
		return trip.StandingPastDue, nil
	}
	return trip.StandingGood, nil
}
