package tripgrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
	"github.com/waybill/waybill/services/trip/tripapp"
)

// TestSuspendedRiderCannotRequest: trip learns a suspension from the account service's
// events (its own copy, kit/accountgate) and refuses the rider's requests with
// FAILED_PRECONDITION, CUSTOMER_SUSPENDED, writing nothing; after reinstatement the
// rider rides again.
func TestSuspendedRiderCannotRequest(t *testing.T) {
	t.Parallel()
	cfg := accountapp.DefaultConfig()
	cfg.CodeSecret = "test-code-secret-0123456789"
	spec := accountapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return accountapp.Register(ctx, d, cfg) }
	acct := grpctest.Start(t, spec)
	accounts := accountv1.NewAccountServiceClient(acct.Conn(operator))
	ctx := grpctest.Context(t)
	riderID := ids.New()
	if _, err := accounts.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{Id: riderID}}); err != nil {
		t.Fatal(err)
	}
	m := startMesh(t, meshOptions{trip: func(c *tripapp.Config) { c.AccountAddr = acct.Addr }})
	r := m.as(rider(riderID))

	if _, err := accounts.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: riderID, Reason: "fraud review"}); err != nil {
		t.Fatal(err)
	}
	suspended := time.Now()
	var err error
	grpctest.Eventually(t, 20*time.Second, "trip to refuse the suspended rider", func() bool {
		before := m.state(t)
		var resp *tripv1.RequestTripResponse
		resp, err = r.RequestTrip(grpctest.Context(t), rideRequest(riderID, ids.New()))
		if err == nil { // admitted before the event arrived: cancel and try again
			if _, err := r.CancelTrip(ctx, &tripv1.CancelTripRequest{TripId: resp.GetTrip().GetId(), Reason: "retry"}); err != nil {
				t.Fatal(err)
			}
			// The cancellation owes matching a call (a task row, done in the background);
			// wait for it so the next attempt's before/after comparison sees only its own writes.
			grpctest.Eventually(t, 10*time.Second, "the cancelled trip's owed call", func() bool { return m.count(t, "matching_task") == 0 })
			return false
		}
		if after := m.state(t); after != before {
			t.Fatalf("a refused request wrote: %s → %s", before, after)
		}
		return true
	})
	grpctest.WantReason(t, err, codes.FailedPrecondition, accountgate.ReasonCustomerSuspended)
	t.Logf("trip refused the suspended rider %v after the suspension", time.Since(suspended).Round(time.Millisecond))
	m.request(t, "another-rider")

	if _, err := accounts.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: riderID}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 20*time.Second, "trip to admit the reinstated rider", func() bool {
		_, err := r.RequestTrip(grpctest.Context(t), rideRequest(riderID, ids.New()))
		return err == nil
	})
}
