package billinggrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
	"github.com/waybill/waybill/services/billing/billing"
	"github.com/waybill/waybill/services/billing/billingapp"
)

// startAccount starts the account service on its own database and returns its address
// and an operator's client.
func startAccount(t testing.TB) (string, accountv1.AccountServiceClient) {
	t.Helper()
	cfg := accountapp.DefaultConfig()
	cfg.CodeSecret = "test-code-secret-0123456789"
	spec := accountapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return accountapp.Register(ctx, d, cfg) }
	s := grpctest.Start(t, spec)
	return s.Addr, accountv1.NewAccountServiceClient(s.Conn(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}))
}

// TestSuspendedCustomerCannotPay: billing learns a suspension from the account service's
// events and refuses the customer's payment with FAILED_PRECONDITION CUSTOMER_SUSPENDED
// within a second, starting no saga and charging nothing; after reinstatement the same
// payment goes through.
func TestSuspendedCustomerCannotPay(t *testing.T) {
	t.Parallel()
	accountAddr, accounts := startAccount(t)
	ctx := grpctest.Context(t)
	if _, err := accounts.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{Id: "cust-1"}}); err != nil {
		t.Fatal(err)
	}
	w := newSagaWorld(t)
	e := startBilling(t, w.pool, w.ps, w.flag, func(c *billingapp.Config) {
		c.PaymentAddr, c.AccountAddr = w.pay.addr, accountAddr
		c.Saga = billing.RunnerOptions{Poll: 100 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond}
	})
	b, _ := w.finalizedBill(e)
	pm := w.pay.method(t, w.pay.cust, "cust-1", "tok_sim_visa")

	if _, err := accounts.SuspendAccount(ctx, &accountv1.SuspendAccountRequest{AccountId: "cust-1", Reason: "chargeback review"}); err != nil {
		t.Fatal(err)
	}
	suspended := time.Now()
	pay := func(requestID string) error {
		_, err := e.customer.PayBill(grpctest.Context(t), &billingv1.PayBillRequest{BillId: b.GetId(), PaymentMethodId: pm, RequestId: requestID})
		return err
	}
	// A payment admitted before the gate learned of the suspension would go through, so
	// the test waits for billing's read model, then pays.
	grpctest.Eventually(t, time.Second, "billing to learn of the suspension", func() bool {
		var suspended bool
		err := e.pool.QueryRow(context.Background(), `SELECT suspended FROM customer_suspension WHERE customer_id = 'cust-1'`).Scan(&suspended)
		return err == nil && suspended
	})
	took := time.Since(suspended)
	err := pay("pay-while-suspended")
	grpctest.WantReason(t, err, codes.FailedPrecondition, accountgate.ReasonCustomerSuspended)
	t.Logf("billing refused the suspended customer %v after the suspension", took.Round(time.Millisecond))
	if got := w.pay.payments(t, b.GetId()); len(got) != 0 {
		t.Fatalf("a refused payment made payments %v", got)
	}
	// Other customers are not affected: the gate answers per customer.
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_suspension WHERE suspended`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d suspended customers in billing's read model (%v), want 1", n, err)
	}

	if _, err := accounts.ReinstateAccount(ctx, &accountv1.ReinstateAccountRequest{AccountId: "cust-1", Reason: "cleared"}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, time.Second, "billing to admit the reinstated customer", func() bool {
		return pay("pay-after-reinstatement") == nil
	})
	if paid := e.sagaEnded(t, b.GetId()); paid.GetStatus() != billingv1.BillStatus_BILL_STATUS_PAID {
		t.Fatalf("after reinstatement the bill is %v, want PAID", paid.GetStatus())
	}
}
