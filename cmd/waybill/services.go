package main

import (
	"context"
	"fmt"
	"io"

	"github.com/waybill/waybill/gateway"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
	"github.com/waybill/waybill/services/analytics/analyticsapp"
	"github.com/waybill/waybill/services/billing/billingapp"
	"github.com/waybill/waybill/services/booking/bookingapp"
	"github.com/waybill/waybill/services/fare/fareapp"
	"github.com/waybill/waybill/services/matching/matchingapp"
	"github.com/waybill/waybill/services/notification/notificationapp"
	"github.com/waybill/waybill/services/payment/paymentapp"
	"github.com/waybill/waybill/services/trip/tripapp"
)

// specs lists every service; their default local ports are serve.DefaultPorts'.
var specs = []serve.Spec{
	bookingapp.Spec(),
	matchingapp.Spec(),
	tripapp.Spec(),
	fareapp.Spec(),
	billingapp.Spec(),
	paymentapp.Spec(),
	accountapp.Spec(),
	analyticsapp.Spec(),
	notificationapp.Spec(),
}

func serviceNames() string { return serve.Names(specs) }

// serviceAddrs returns each service's default gRPC address, for the gateway's defaults.
func serviceAddrs() map[string]string {
	m := map[string]string{}
	for _, s := range specs {
		m[s.Name] = serve.DefaultAddr(s.Name)
	}
	return m
}

// serveOne runs one service, or the gateway, until ctx is done.
func serveOne(ctx context.Context, name string, args []string, getenv func(string) string, stdout io.Writer) error {
	if name == "gateway" {
		return gateway.Run(ctx, gateway.Defaults{HTTPPort: portsOf("gateway").HTTP, Services: serviceAddrs()}, args, getenv, stdout)
	}
	for _, s := range specs {
		if s.Name == name {
			return serve.Run(ctx, s, args, getenv, stdout)
		}
	}
	return fmt.Errorf("unknown service %q: want one of %s, gateway", name, serviceNames())
}

// portsOf returns the default local ports of the named process of the mesh.
func portsOf(name string) serve.Ports {
	p, _ := serve.DefaultPorts(name)
	return p
}
