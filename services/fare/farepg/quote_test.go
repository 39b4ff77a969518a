package farepg_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/fare/fare"
	"github.com/waybill/waybill/services/fare/farepg"
)

// TestInsertQuoteRoundTripsAndKeepsCommitsDurable stores a stay quote and a ride quote
// (no unit price, no dates) through the asynchronously committed insert, reads them back,
// and checks that the connection's own synchronous_commit is still on afterwards: the
// asynchronous commit is the quote's transaction's alone, never the pooled connection's.
func TestInsertQuoteRoundTripsAndKeepsCommitsDurable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(pgtest.NewURL(t, pgtest.Schemas{"fare": farepg.Migrations}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "fare"
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.MaxConns = 1 // every statement below runs on the connection the inserts used
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := farepg.New(pool, farepg.Options{RateCardEvent: func(fare.RateCard) proto.Message { return &emptypb.Empty{} }})

	stay := fare.Quote{
		Key:        fare.ProductKey{Kind: fare.KindStay, Stay: fare.StayProduct{PropertyID: "6a1c1b52-4f7e-4c38-9b7e-0d6f3a1d2e11", RoomType: "double"}},
		RateCardID: "0b8f5e0e-1c1e-4d8e-9d51-6f0c7f7b9a01", RateVersion: 3, Currency: "EUR",
		Quantity: 2, Nights: 3, CheckIn: fare.Date{Year: 2030, Month: 5, Day: 1}, CheckOut: fare.Date{Year: 2030, Month: 5, Day: 4},
		UnitPrice: 9000, HasUnitPrice: true, Price: 54000, MultiplierBps: 10000, LoadFactorBps: 2500,
		Lines:      []fare.PriceLine{},
		CreateTime: t0, ValidUntil: t0.Add(15 * time.Minute),
	}
	ride := fare.Quote{
		Key:        fare.ProductKey{Kind: fare.KindRide, Ride: fare.RideProduct{City: "berlin", Product: "standard"}},
		RateCardID: "0b8f5e0e-1c1e-4d8e-9d51-6f0c7f7b9a02", RateVersion: 1, Currency: "EUR",
		Quantity: 1, Nights: 1, Price: 1234, MultiplierBps: 15000, SurgeZone: "mitte",
		DistanceMeters: 5000, DurationSeconds: 900, CreateTime: t0, ValidUntil: t0.Add(5 * time.Minute),
	}
	for _, q := range []fare.Quote{stay, ride} {
		stored, err := s.InsertQuotes(ctx, []fare.Quote{q})
		if err != nil {
			t.Fatal(err)
		}
		got := stored[0]
		if got.ID == "" {
			t.Fatal("no quote id")
		}
		var price, bps int64
		var unit *int64
		var checkIn *time.Time
		var zone string
		err = pool.QueryRow(ctx, `SELECT price, multiplier_bps, unit_price, check_in_date, surge_zone FROM quote WHERE id = $1`, got.ID).
			Scan(&price, &bps, &unit, &checkIn, &zone)
		if err != nil {
			t.Fatal(err)
		}
		if price != q.Price || bps != int64(q.MultiplierBps) || zone != q.SurgeZone || (unit != nil) != q.HasUnitPrice || (checkIn != nil) != (q.CheckIn != fare.Date{}) {
			t.Errorf("quote %s stored as price %d, bps %d, unit %v, check-in %v, zone %q; want %+v", got.ID, price, bps, unit, checkIn, zone, q)
		}
		var setting string
		if err := pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != "on" {
			t.Fatalf("after a quote, the connection's synchronous_commit is %q, want on", setting)
		}
	}
}

// TestInsertQuotesAllOrNone stores a batch whose last quote the database rejects (a NUL
// byte in its currency, which PostgreSQL refuses after running the batch's first
// statements): the batch fails and none of its quotes is stored, because
// the pipelined INSERTs run as one implicit transaction.
func TestInsertQuotesAllOrNone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.NewURL(t, pgtest.Schemas{"fare": farepg.Migrations})+"&search_path=fare")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := farepg.New(pool, farepg.Options{RateCardEvent: func(fare.RateCard) proto.Message { return &emptypb.Empty{} }})
	good := fare.Quote{
		Key:        fare.ProductKey{Kind: fare.KindSeat, Seat: fare.SeatProduct{Carrier: "LH", Origin: "FRA", Destination: "JFK", FareClass: "economy"}},
		RateCardID: "0b8f5e0e-1c1e-4d8e-9d51-6f0c7f7b9a01", RateVersion: 1, Currency: "EUR", Quantity: 1, Nights: 1,
		UnitPrice: 100, HasUnitPrice: true, Price: 100, MultiplierBps: 10000, CreateTime: t0, ValidUntil: t0.Add(time.Minute),
	}
	bad := good
	bad.Currency = "EU\x00R"
	stored, err := s.InsertQuotes(ctx, []fare.Quote{good, good})
	if err != nil || len(stored) != 2 || stored[0].ID == "" || stored[0].ID == stored[1].ID {
		t.Fatalf("InsertQuotes of two good quotes: %v, %+v", err, stored)
	}
	if _, err := s.InsertQuotes(ctx, []fare.Quote{good, good, bad}); err == nil {
		t.Fatal("a batch with a bad quote was stored")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM quote`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d quotes stored, want the first batch's 2 only", n)
	}
}
