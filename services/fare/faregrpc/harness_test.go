package faregrpc_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/fare/fareapp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// harness is a fare server on loopback, started as fareapp.Spec describes it on a fresh
// database, with clients for each role.
type harness struct {
	addr     string
	pool     *pgxpool.Pool
	operator farev1.FareServiceClient
	service  farev1.FareServiceClient
	customer farev1.FareServiceClient
	driver   farev1.FareServiceClient
	anon     farev1.FareServiceClient
}

// start starts fare without event sources (no trip or matching to consume).
func start(t testing.TB) *harness {
	t.Helper()
	c := fareapp.DefaultConfig()
	c.TripAddr, c.MatchingAddr = "", ""
	return startWith(t, c)
}

// startWith starts fare with configuration c.
func startWith(t testing.TB, c fareapp.Config) *harness {
	t.Helper()
	s := grpctest.Start(t, fareapp.SpecWith(c))
	client := func(id auth.Identity) farev1.FareServiceClient { return farev1.NewFareServiceClient(s.Conn(id)) }
	return &harness{
		addr:     s.Addr,
		pool:     s.Pool,
		operator: client(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}),
		service:  client(auth.Identity{Subject: "booking", Role: auth.RoleService}),
		customer: client(auth.Identity{Subject: "cust-1", Role: auth.RoleCustomer}),
		driver:   client(auth.Identity{Subject: "drv-1", Role: auth.RoleDriver}),
		anon:     client(auth.Identity{}),
	}
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
	resp, err := h.operator.CreateRateCard(grpctest.Context(t), &farev1.CreateRateCardRequest{RateCard: c})
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
