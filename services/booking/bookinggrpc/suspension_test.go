package bookinggrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
	"github.com/waybill/waybill/services/booking/bookingapp"
)

// TestSuspendedCustomerCannotHold: booking learns a suspension from the account service's
// events within a second and refuses the customer's holds with FAILED_PRECONDITION
// CUSTOMER_SUSPENDED, holding nothing; other customers keep holding; after reinstatement
// the customer holds again.
func TestSuspendedCustomerCannotHold(t *testing.T) {
	t.Parallel()
	cfg := accountapp.DefaultConfig()
	cfg.CodeSecret = "test-code-secret-0123456789"
	spec := accountapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return accountapp.Register(ctx, d, cfg) }
	acct := grpctest.Start(t, spec)
	accounts := accountv1.NewAccountServiceClient(acct.Conn(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}))
	ctx := grpctest.Context(t)
	if _, err := accounts.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{Id: customer1}}); err != nil {
		t.Fatal(err)
	}

	e := newEnvWith(t, func(c *bookingapp.Config) { c.AccountAddr = acct.Addr })
	e.routeCard(t)
	dep := e.createDeparture(t, departure(30*24*time.Hour, 10))
	e.hold(t, seatHold(dep.GetId(), 1)) // active: admitted

	if _, err := accounts.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: customer1, Reason: "fraud review"}); err != nil {
		t.Fatal(err)
	}
	suspended := time.Now()
	var err error
	grpctest.Eventually(t, time.Second, "booking to refuse the suspended customer", func() bool {
		before := e.snapshot(t)
		_, err = e.cust.CreateReservation(grpctest.Context(t), seatHold(dep.GetId(), 1))
		if err == nil {
			return false // admitted before the event arrived: the hold stands, try again
		}
		if after := e.snapshot(t); after != before {
			t.Fatalf("a refused hold wrote: %s → %s", before, after)
		}
		return true
	})
	grpctest.WantReason(t, err, codes.FailedPrecondition, accountgate.ReasonCustomerSuspended)
	t.Logf("booking refused the suspended customer %v after the suspension", time.Since(suspended).Round(time.Millisecond))
	// Operators holding for the suspended customer are refused too; other customers are not.
	req := seatHold(dep.GetId(), 1)
	req.Reservation.CustomerId = customer1
	_, err = e.ops.CreateReservation(grpctest.Context(t), req)
	grpctest.WantReason(t, err, codes.FailedPrecondition, accountgate.ReasonCustomerSuspended)
	if _, err := e.cust2.CreateReservation(grpctest.Context(t), seatHold(dep.GetId(), 1)); err != nil {
		t.Fatalf("another customer's hold: %v", err)
	}

	if _, err := accounts.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: customer1}); err != nil {
		t.Fatal(err)
	}
	reinstated := time.Now()
	grpctest.Eventually(t, time.Second, "booking to admit the reinstated customer", func() bool {
		_, err := e.cust.CreateReservation(grpctest.Context(t), seatHold(dep.GetId(), 1))
		return err == nil
	})
	t.Logf("booking admitted the reinstated customer %v after the reinstatement", time.Since(reinstated).Round(time.Millisecond))
}

// TestGateKnowsSuspensionsOlderThanTheLog: a booking service that starts consuming after
// the account log dropped a suspension (its retention) still refuses that customer: the
// gate seeds its read model from ListAccounts before the first event.
func TestGateKnowsSuspensionsOlderThanTheLog(t *testing.T) {
	t.Parallel()
	cfg := accountapp.DefaultConfig()
	cfg.CodeSecret = "test-code-secret-0123456789"
	spec := accountapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return accountapp.Register(ctx, d, cfg) }
	acct := grpctest.Start(t, spec)
	accounts := accountv1.NewAccountServiceClient(acct.Conn(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}))
	ctx := grpctest.Context(t)
	if _, err := accounts.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{Id: customer1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: customer1, Reason: "old case"}); err != nil {
		t.Fatal(err)
	}
	// The retention passes: the account log no longer holds the suspension.
	grpctest.Eventually(t, 10*time.Second, "the suspension to reach the account log", func() bool {
		var n int
		err := acct.Pool.QueryRow(context.Background(), `SELECT count(*) FROM event_log WHERE type = 'account.account.suspended'`).Scan(&n)
		return err == nil && n == 1
	})
	if _, err := acct.Pool.Exec(context.Background(), `DELETE FROM event_log`); err != nil {
		t.Fatal(err)
	}

	e := newEnvWith(t, func(c *bookingapp.Config) { c.AccountAddr = acct.Addr })
	e.routeCard(t)
	dep := e.createDeparture(t, departure(30*24*time.Hour, 10))
	grpctest.Eventually(t, 5*time.Second, "booking's gate to be seeded", func() bool {
		var n int
		err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_suspension WHERE suspended`).Scan(&n)
		return err == nil && n == 1
	})
	_, err := e.cust.CreateReservation(grpctest.Context(t), seatHold(dep.GetId(), 1))
	grpctest.WantReason(t, err, codes.FailedPrecondition, accountgate.ReasonCustomerSuspended)
	if _, err := e.cust2.CreateReservation(grpctest.Context(t), seatHold(dep.GetId(), 1)); err != nil {
		t.Fatalf("another customer's hold: %v", err)
	}
}
