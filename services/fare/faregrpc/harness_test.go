package faregrpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/telemetry"
	"github.com/waybill/waybill/services/fare/faregrpc"
	"github.com/waybill/waybill/services/fare/farepg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testSecret = "fare-test-secret-0123456789"

// harness is a fare server on loopback, started through faregrpc.Register on a fresh
// database, with clients for each role.
type harness struct {
	pool     *pgxpool.Pool
	operator farev1.FareServiceClient
	service  farev1.FareServiceClient
	customer farev1.FareServiceClient
	anon     farev1.FareServiceClient
}

func start(t testing.TB) *harness {
	t.Helper()
	pool := pgtest.NewDB(t, "fare", farepg.Migrations)
	signer, err := auth.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.Setup(context.Background(), "fare-test", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := grpcserver.New(grpcserver.Config{Name: "fare", DefaultTimeout: 10 * time.Second}, logger, tel,
		grpc.ChainUnaryInterceptor(signer.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(signer.StreamServerInterceptor()))
	ctx, cancel := context.WithCancel(context.Background())
	if err := faregrpc.Register(ctx, serve.Deps{Server: srv, Pool: pool, Logger: logger, Telemetry: tel, Auth: signer}); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	dial := func(opts ...grpc.DialOption) farev1.FareServiceClient {
		conn, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return farev1.NewFareServiceClient(conn)
	}
	operator := dial(signer.DialOption(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}))
	return &harness{
		pool:     pool,
		operator: operator,
		service:  dial(signer.DialOption(auth.Identity{Subject: "booking", Role: auth.RoleService})),
		customer: dial(signer.DialOption(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer})),
		anon:     dial(),
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// count returns the number of rows of a table.
func (h *harness) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantCode fails unless err has code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
}

// wantField fails unless err is INVALID_ARGUMENT with a BadRequest naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v (%v), want InvalidArgument naming %s", st.Code(), err, field)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
				t.Fatalf("field = %q (%s), want %q", v.GetField(), v.GetDescription(), field)
			}
		}
	}
	t.Fatalf("no BadRequest field violation in %v", err)
}

func eur(amount int64) *typev1.Money { return &typev1.Money{AmountMinor: amount, CurrencyCode: "EUR"} }

func seatKey(departure string) *farev1.ProductKey {
	return &farev1.ProductKey{Product: &farev1.ProductKey_Seat{Seat: &farev1.SeatProduct{
		Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "economy", DepartureId: departure,
	}}}
}

func stayKey() *farev1.ProductKey {
	return &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{PropertyId: "prop-1", RoomType: "double"}}}
}

func rideKey() *farev1.ProductKey {
	return &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: "berlin", Product: "standard"}}}
}

// curve is a typical load-factor curve: 0.9x when empty, 1.0x from 50 %, 1.25x from
// 80 %, 1.5x from 95 %, within [0.9x, 1.5x].
func curve() *farev1.DynamicPricing {
	return &farev1.DynamicPricing{MinMultiplierBps: 9000, MaxMultiplierBps: 15000, LoadFactorTiers: []*farev1.LoadFactorTier{
		{ThresholdBps: 0, MultiplierBps: 9000},
		{ThresholdBps: 5000, MultiplierBps: 10000},
		{ThresholdBps: 8000, MultiplierBps: 12500},
		{ThresholdBps: 9500, MultiplierBps: 15000},
	}}
}

func inventoryCard(key *farev1.ProductKey, unit int64) *farev1.RateCard {
	return &farev1.RateCard{
		ProductKey:     key,
		CurrencyCode:   "EUR",
		Pricing:        &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: eur(unit)}},
		DynamicPricing: curve(),
		Description:    "test prices",
	}
}

func rideCard() *farev1.RateCard {
	return &farev1.RateCard{
		ProductKey:   rideKey(),
		CurrencyCode: "EUR",
		Pricing: &farev1.RateCard_Ride{Ride: &farev1.RidePricing{
			BaseFare: eur(300), PerKilometer: eur(150), PerMinute: eur(30), MinimumFare: eur(800),
		}},
		DynamicPricing: &farev1.DynamicPricing{MinMultiplierBps: 10000, MaxMultiplierBps: 30000},
	}
}

func (h *harness) create(t testing.TB, c *farev1.RateCard) *farev1.RateCard {
	t.Helper()
	resp, err := h.operator.CreateRateCard(ctxT(t), &farev1.CreateRateCardRequest{RateCard: c})
	if err != nil {
		t.Fatalf("CreateRateCard: %v", err)
	}
	return resp.GetRateCard()
}

// future returns the date days from today (UTC).
func future(days int) *typev1.Date {
	d := time.Now().UTC().AddDate(0, 0, days)
	return &typev1.Date{Year: int32(d.Year()), Month: int32(d.Month()), Day: int32(d.Day())}
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
