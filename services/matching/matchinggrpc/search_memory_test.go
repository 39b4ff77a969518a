package matchinggrpc_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/matching/matchingapp"
	"github.com/waybill/waybill/services/matching/matchingpg"
)

// queryCounter is a pgx tracer that counts the statements (queries, batches, copies)
// sent on behalf of each gRPC method: the method a handler runs in is on its context
// (grpc.Method), which pgx hands to the tracer. Statements without one (the
// flusher, the sync, the dispatcher) count under "".
type queryCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *queryCounter) count(ctx context.Context) context.Context {
	m, _ := grpc.Method(ctx)
	c.mu.Lock()
	c.n[m]++
	c.mu.Unlock()
	return ctx
}

func (c *queryCounter) of(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return c.count(ctx)
}
func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *queryCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return c.count(ctx)
}
func (c *queryCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *queryCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *queryCounter) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return c.count(ctx)
}
func (c *queryCounter) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// countingPool returns a pool on a fresh matching database whose statements c counts.
func countingPool(t *testing.T, c *queryCounter) *pgxpool.Pool {
	t.Helper()
	pc, err := pgxpool.ParseConfig(pgtest.NewURL(t, pgtest.Schemas{matchingapp.Name: matchingpg.Migrations}))
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{matchingapp.Name}.Sanitize()
	pc.ConnConfig.Tracer = c
	pool, err := pgxpool.NewWithConfig(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

const (
	searchMethod    = "/waybill.matching.v1.MatchingService/SearchNearbyDrivers"
	getDriverMethod = "/waybill.matching.v1.MatchingService/GetDriver"
)

// TestSearchAnswersFromMemory: SearchNearbyDrivers sends no statement to PostgreSQL
// (counted by a tracer on the server's pool, per gRPC method; GetDriver, which reads the
// database, is the control that the count sees handlers' statements), and answers each
// driver exactly as GetDriver does: the record the index holds is kept fresh by this
// replica's writes (a name and sub-status change, an offer claiming a driver) and by the
// sync with another replica's (a rename there), and a rebuilt replica starts with it.
func TestSearchAnswersFromMemory(t *testing.T) {
	t.Parallel()
	counter := &queryCounter{n: map[string]int{}}
	pool := countingPool(t, counter)
	h := start(t, grpctest.WithPool(pool))
	ctx := grpctest.Context(t)
	pickup := &typev1.GeoPoint{Latitude: 50.1109, Longitude: 8.6821}
	now := time.Now()
	var drivers []*matchingv1.Driver
	for i := range 6 {
		d := h.online(t, "standard", "xl")
		h.locate(t, d.GetId(), pickup.GetLatitude()+float64(i)*0.001, pickup.GetLongitude(), now)
		drivers = append(drivers, d)
	}
	// A change of name and sub-status while AVAILABLE (a new version).
	if _, err := h.operator.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{
		Driver:     &matchingv1.Driver{Id: drivers[1].GetId(), Name: "Renamed Driver", SubStatus: "break_soon"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name", "sub_status"}},
	}); err != nil {
		t.Fatal(err)
	}
	// The nearest driver claimed by a match's offer: OFFERED, no longer searchable.
	if _, err := h.service.CreateMatch(ctx, &matchingv1.CreateMatchRequest{
		TripId: "trip-memory-1", Pickup: pickup, Product: "xl",
	}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the nearest driver OFFERED", func() bool {
		return h.driver(t, drivers[0].GetId()).GetStatus() == matchingv1.DriverStatus_DRIVER_STATUS_OFFERED
	})

	// checkAgainstGetDriver searches on h and compares every hit with GetDriver.
	checkAgainstGetDriver := func(h *harness, want []string) {
		t.Helper()
		before := counter.of(searchMethod)
		got := h.search(t, &matchingv1.SearchNearbyDriversRequest{Pickup: pickup, Product: "xl"})
		if n := counter.of(searchMethod) - before; n != 0 {
			t.Fatalf("a search sent %d statements to PostgreSQL", n)
		}
		if ids := nearbyIDs(got); !slices.Equal(ids, want) {
			t.Fatalf("search = %v, want %v", ids, want)
		}
		for _, n := range got {
			if d := h.driver(t, n.GetDriver().GetId()); !proto.Equal(n.GetDriver(), d) {
				t.Fatalf("search answered\n%v\nGetDriver answers\n%v", n.GetDriver(), d)
			}
		}
	}
	var want []string
	for _, d := range drivers[1:] {
		want = append(want, d.GetId())
	}
	checkAgainstGetDriver(h, want)
	if counter.of(getDriverMethod) == 0 {
		t.Fatal("the tracer counted no statement of GetDriver: it does not see the handlers' statements")
	}
	if got := h.search(t, &matchingv1.SearchNearbyDriversRequest{Pickup: pickup, Product: "xl"}); got[0].GetDriver().GetName() != "Renamed Driver" ||
		got[0].GetDriver().GetSubStatus() != "break_soon" {
		t.Fatalf("nearest hit %v, want the renamed driver", got[0].GetDriver())
	}

	// A second replica rebuilt from the database answers the same; a rename through the
	// first reaches its searches with the sync.
	other := start(t, grpctest.WithPool(pool))
	grpctest.Eventually(t, 10*time.Second, "the second replica finds the drivers", func() bool {
		return len(other.search(t, &matchingv1.SearchNearbyDriversRequest{Pickup: pickup, Product: "xl"})) == len(want)
	})
	checkAgainstGetDriver(other, want)
	if _, err := h.operator.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{
		Driver:     &matchingv1.Driver{Id: drivers[2].GetId(), Name: "Renamed Elsewhere"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
	}); err != nil {
		t.Fatal(err)
	}
	grpctest.Eventually(t, 10*time.Second, "the rename on the second replica", func() bool {
		for _, n := range other.search(t, &matchingv1.SearchNearbyDriversRequest{Pickup: pickup, Product: "xl"}) {
			if n.GetDriver().GetId() == drivers[2].GetId() {
				return n.GetDriver().GetName() == "Renamed Elsewhere"
			}
		}
		return false
	})
	checkAgainstGetDriver(other, want)
}
