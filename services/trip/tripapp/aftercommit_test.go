package tripapp

import (
	"context"
	"testing"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/trip/trip"
)

// TestConsumerCommitsWakeTheirOwnWatchers runs, step by step, the interleaving that left
// a rider's WatchTrip waiting for its poll: the matching consumer's handler assigns the
// driver of trip X (not committed yet), the fare consumer commits a batch of its own and
// announces its changes, the watcher re-reads X (still REQUESTED, so it waits again),
// then the matching consumer commits. Its announcement must reach X's watcher: the fare
// consumer's flush may not have taken it away.
func TestConsumerCommitsWakeTheirOwnWatchers(t *testing.T) {
	hub := trip.NewHub()
	const x = "0193a0b4-0000-7000-8000-00000000000a"
	changed, stop := hub.Watch(x)
	defer stop()
	trackers := consumerTrackers(hub, func() {})
	if trackers[consumerMatching] == trackers[consumerFare] {
		t.Fatal("the matching and fare consumers share one tracker")
	}
	ok := func(context.Context, *txn.Tx, *eventsv1.Event) error { return nil }

	// The matching consumer's handler applied driver.assigned for X; its batch is
	// committing.
	if err := trackers[consumerMatching].track(ok)(context.Background(), nil, &eventsv1.Event{Key: x}); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the fare consumer commits a batch (about other trips) and flushes.
	trackers[consumerFare].flush()
	// The watcher re-reads X after any notification it got, and finds it unchanged.
	select {
	case <-changed:
	default:
	}
	// The matching consumer's batch commits: X's watcher must hear of it.
	trackers[consumerMatching].flush()
	select {
	case <-changed:
	default:
		t.Fatal("the matching consumer's commit did not wake the watcher of the trip it changed: it waits for its poll")
	}
}
