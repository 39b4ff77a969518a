package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/booking/bookingapp"
	"github.com/waybill/waybill/services/fare/fareapp"
)

// TestAnalyticsRebuild runs `waybill analytics rebuild` against a real booking and fare
// service: it replays their logs into the schema named and reports success; bad flags
// are refused before anything is touched.
func TestAnalyticsRebuild(t *testing.T) {
	fare := grpctest.Start(t, fareapp.Spec())
	c := bookingapp.DefaultConfig()
	c.FareAddr, c.SweepInterval = fare.Addr, 0
	spec := bookingapp.Spec()
	spec.Register = func(ctx context.Context, d serve.Deps) error { return bookingapp.Register(ctx, d, c) }
	booking := grpctest.Start(t, spec)
	inv := bookingv1.NewInventoryServiceClient(booking.Conn(auth.Identity{Subject: "ops", Role: auth.RoleOperator}))
	if _, err := inv.CreateProperty(grpctest.Context(t), &bookingv1.CreatePropertyRequest{Property: &bookingv1.Property{
		Name: "Hotel", City: "berlin", Address: "x", TimeZone: "UTC", Location: &typev1.GeoPoint{Latitude: 52, Longitude: 13},
		RoomTypes: []*bookingv1.RoomType{{Name: "double", NightlyCapacity: 7, MaxGuests: 2}}}}); err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewURL(t, pgtest.Schemas{})
	env := map[string]string{"WAYBILL_DATABASE_URL": url, "WAYBILL_AUTH_SECRET": grpctest.Secret}
	getenv := func(k string) string { return env[k] }
	args := []string{"analytics", "rebuild", "--schema", "analytics_rebuilt", "--booking-addr", booking.Addr, "--fare-addr", fare.Addr,
		"--payment-addr", "", "--billing-addr", "", "--trip-addr", "", "--timeout", "30s"}
	var out bytes.Buffer
	if err := run(grpctest.Context(t), args, getenv, &out); err != nil {
		t.Fatalf("rebuild: %v (%s)", err, out.String())
	}
	if !strings.Contains(out.String(), "rebuilt schema analytics_rebuilt from 2 sources") {
		t.Errorf("output %q", out.String())
	}
	pool, err := pgxutil.NewPool(url, pgxutil.PoolConfig{Schema: "analytics_rebuilt"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var capacity int64
	if err := pool.QueryRow(context.Background(), `SELECT capacity FROM units WHERE unit_kind = 'property'`).Scan(&capacity); err != nil || capacity != 7 {
		t.Errorf("rebuilt property capacity %d (%v), want 7", capacity, err)
	}
	for _, bad := range [][]string{{"analytics", "rebuild", "--schema", "analytics"}, {"analytics", "rebuild", "--database-url", ""}, {"analytics", "frobnicate"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := run(ctx, bad, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
			t.Errorf("%v succeeded", bad)
		}
		cancel()
	}
}
