package main

import (
	"context"
	"fmt"
	"io"

	"github.com/waybill/waybill/gateway"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/billing/billinggrpc"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookinggrpc"
	"github.com/waybill/waybill/services/booking/bookingpg"
	"github.com/waybill/waybill/services/fare/faregrpc"
	"github.com/waybill/waybill/services/fare/farepg"
	"github.com/waybill/waybill/services/matching/matchinggrpc"
	"github.com/waybill/waybill/services/matching/matchingpg"
	"github.com/waybill/waybill/services/payment/payment"
	"github.com/waybill/waybill/services/payment/paymentgrpc"
	"github.com/waybill/waybill/services/payment/paymentpg"
	"github.com/waybill/waybill/services/trip/tripgrpc"
	"github.com/waybill/waybill/services/trip/trippg"
)

// specs lists every service with its default local ports: gRPC on 70xx, metrics and
// health on 90xx.
var specs = []serve.Spec{
	{Name: "booking", GRPCPort: 7001, HTTPPort: 9001, Migrations: bookingpg.Migrations, Flags: bookinggrpc.Flags,
		EventTypes: booking.EventTypes, Register: bookinggrpc.Register},
	{Name: "matching", GRPCPort: 7002, HTTPPort: 9002, Migrations: matchingpg.Migrations, Register: matchinggrpc.Register},
	{Name: "trip", GRPCPort: 7003, HTTPPort: 9003, Migrations: trippg.Migrations, Register: tripgrpc.Register},
	{Name: "fare", GRPCPort: 7004, HTTPPort: 9004, Migrations: farepg.Migrations,
		EventTypes: faregrpc.EventTypes, Register: faregrpc.Register},
	{Name: "billing", GRPCPort: 7005, HTTPPort: 9005, Migrations: billingpg.Migrations, Flags: billinggrpc.Flags,
		EventTypes: billinggrpc.EventTypes, Register: billinggrpc.Register},
	{Name: "payment", GRPCPort: 7006, HTTPPort: 9006, Migrations: paymentpg.Migrations, Flags: paymentgrpc.Flags,
		EventTypes: payment.EventTypes, Register: paymentgrpc.Register},
}

// gatewayPort is the gateway's default HTTP port.
const gatewayPort = 8080

func serviceNames() string { return serve.Names(specs) }

// serviceAddrs returns each service's default gRPC address, for the gateway's defaults.
func serviceAddrs() map[string]string {
	m := map[string]string{}
	for _, s := range specs {
		m[s.Name] = fmt.Sprintf("127.0.0.1:%d", s.GRPCPort)
	}
	return m
}

// serveOne runs one service, or the gateway, until ctx is done.
func serveOne(ctx context.Context, name string, args []string, getenv func(string) string, stdout io.Writer) error {
	if name == "gateway" {
		return gateway.Run(ctx, gateway.Defaults{HTTPPort: gatewayPort, Services: serviceAddrs()}, args, getenv, stdout)
	}
	for _, s := range specs {
		if s.Name == name {
			return serve.Run(ctx, s, args, getenv, stdout)
		}
	}
	return fmt.Errorf("unknown service %q: want one of %s, gateway", name, serviceNames())
}
