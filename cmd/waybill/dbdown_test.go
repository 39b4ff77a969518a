package main

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	analyticsv1 "github.com/waybill/waybill/gen/waybill/analytics/v1"
	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgxutil"
)

// TestDatabaseDownIsUnavailable serves each service on a pool whose database cannot be
// reached: its calls must answer UNAVAILABLE (HTTP 503, retriable), never INTERNAL.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	_ = ln.Close()

	calls := map[string]func(ctx context.Context, conn *grpc.ClientConn) error{
		"booking": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := bookingv1.NewInventoryServiceClient(conn).ListDepartures(ctx, &bookingv1.ListDeparturesRequest{})
			return err
		},
		"billing": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := billingv1.NewBillingServiceClient(conn).ListBills(ctx, &billingv1.ListBillsRequest{})
			return err
		},
		"fare": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := farev1.NewFareServiceClient(conn).ListRateCards(ctx, &farev1.ListRateCardsRequest{})
			return err
		},
		"payment": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := paymentv1.NewPaymentServiceClient(conn).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{})
			return err
		},
		"matching": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := matchingv1.NewMatchingServiceClient(conn).ListDrivers(ctx, &matchingv1.ListDriversRequest{})
			return err
		},
		"trip": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := tripv1.NewTripServiceClient(conn).ListTrips(ctx, &tripv1.ListTripsRequest{})
			return err
		},
		"account": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := accountv1.NewAccountServiceClient(conn).ListAccounts(ctx, &accountv1.ListAccountsRequest{})
			return err
		},
		"analytics": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := analyticsv1.NewAnalyticsServiceClient(conn).ListAnalyticsAlerts(ctx, &analyticsv1.ListAnalyticsAlertsRequest{})
			return err
		},
		"notification": func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := notificationv1.NewNotificationServiceClient(conn).ListNotifications(ctx, &notificationv1.ListNotificationsRequest{})
			return err
		},
	}
	for _, spec := range specs {
		call, ok := calls[spec.Name]
		if !ok {
			t.Errorf("%s has a database but no call in this test", spec.Name)
			continue
		}
		t.Run(spec.Name, func(t *testing.T) {
			pool, err := pgxutil.NewPool("postgres://nobody@"+deadAddr+"/waybill?sslmode=disable&connect_timeout=2", pgxutil.PoolConfig{Schema: spec.Name})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			srv := grpctest.Start(t, spec, grpctest.WithPool(pool))
			ctx := grpctest.Context(t)
			err = call(ctx, srv.Conn(auth.Identity{Subject: "ops-1", Role: auth.RoleOperator}))
			grpctest.WantCode(t, err, codes.Unavailable)
		})
	}
}
