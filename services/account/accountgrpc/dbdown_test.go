package accountgrpc_test

import (
	"net"
	"testing"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/account/accountapp"
)

// TestDatabaseDownIsUnavailable: with its database unreachable, the account service
// answers reads and writes UNAVAILABLE (retriable), never INTERNAL.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	pool, err := pgxutil.NewPool("postgres://nobody@"+dead+"/waybill?sslmode=disable&connect_timeout=2", pgxutil.PoolConfig{Schema: "account"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	srv := grpctest.Start(t, accountapp.Spec(), grpctest.WithPool(pool))
	c := accountv1.NewAccountServiceClient(srv.Conn(auth.Identity{Subject: "cust-down", Role: auth.RoleCustomer}))
	ctx := grpctest.Context(t)
	_, err = c.GetAccount(ctx, &accountv1.GetAccountRequest{AccountId: "cust-down"})
	grpctest.WantCode(t, err, codes.Unavailable)
	_, err = c.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{}})
	grpctest.WantCode(t, err, codes.Unavailable)
	_, err = c.VerifyContact(ctx, &accountv1.VerifyContactRequest{AccountId: "cust-down", Kind: email, Code: "123456"})
	grpctest.WantCode(t, err, codes.Unavailable)
}
