package billingapp_test

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/proctest"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/billing/billingpg"
	"github.com/waybill/waybill/services/billing/fareclient"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestFareConsumerGroupAcrossReplicas: two real billing processes (the waybill binary)
// started with --consumer-partitions share the partitions of fare's events; one is
// SIGKILLed in the middle of the stream and the other takes its partitions over after the
// lease. Every fare ends on exactly one bill.
func TestFareConsumerGroupAcrossReplicas(t *testing.T) {
	bin := proctest.Build(t)
	// Fare's stand-in: a real event source (outbox + EventStreamService) in this process.
	fare := grpctest.StartEventSource(t, "fare", []string{fareclient.EventCalculated})
	emit := fare.Emit
	url := pgtest.NewURL(t, pgtest.Schemas{"billing": billingpg.Migrations})
	db, err := pgxutil.Connect(t.Context(), url, pgxutil.PoolConfig{Schema: "billing", ApplicationName: "group-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	count := func(q string, args ...any) int {
		var n int
		if err := db.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	start := func(member string) *proctest.Process {
		return proctest.Serve(t, bin, "billing", proctest.FreeAddr(t), url,
			"--fare-addr", fare.Addr, "--payment-addr", "", "--account-addr", "", "--providers", "ride=trip@127.0.0.1:1",
			"--consumer-partitions", "4", "--consumer-lease", "1s", "--consumer-member", member)
	}
	owners := func() map[string]int {
		rows, err := db.Query(t.Context(), `SELECT owner FROM consumer_leases WHERE consumer = $1 AND lease_until > now()`, fareclient.Consumer)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var o string
			if err := rows.Scan(&o); err != nil {
				t.Fatal(err)
			}
			m[o]++
		}
		return m
	}

	const rides = 80
	calculated := func(i int) {
		id := ids.New()
		total := &typev1.Money{AmountMinor: 1000 + int64(i), CurrencyCode: "EUR"}
		ev := &farev1.FareEvent{Fare: &farev1.Fare{TripId: id, CustomerId: "rider-" + strconv.Itoa(i%7), City: "berlin",
			Product: "standard", Total: total, CreateTime: timestamppb.Now(),
			Lines: []*farev1.PriceLine{{Code: "base", Amount: total}}}}
		if err := emit.Run(t.Context(), func(tx *txn.Tx) error {
			tx.Emit(outbox.Event{Type: fareclient.EventCalculated, Key: id, Payload: ev})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	b1, _ := start("b1"), start("b2")
	grpctest.Eventually(t, 30*time.Second, "the replicas share the 4 partitions", func() bool {
		o := owners()
		return o["b1"] == 2 && o["b2"] == 2
	})
	for i := range rides {
		calculated(i)
		if i == rides/2 {
			b1.Kill(t) // b1 dies with fares arriving
		}
		time.Sleep(20 * time.Millisecond)
	}
	grpctest.Eventually(t, 60*time.Second, "every fare billed", func() bool {
		return count(`SELECT count(*) FROM bill_items`) >= rides
	})
	time.Sleep(500 * time.Millisecond) // anything applied twice would show now
	if n := count(`SELECT count(DISTINCT reservation_id) FROM bill_items`); n != rides {
		t.Fatalf("%d distinct rides billed for %d fares", n, rides)
	}
	if n := count(`SELECT count(*) FROM bill_items`); n != rides {
		t.Fatalf("%d bill items for %d fares", n, rides)
	}
	if o := owners(); o["b2"] != 4 {
		t.Fatalf("after b1's death the partitions are owned by %v, want all 4 by b2", o)
	}
	if n := count(`SELECT count(*) FROM consumer_cursors WHERE consumer = $1`, fareclient.Consumer); n != 0 {
		t.Errorf("the group also kept %d single cursors", n)
	}
}
