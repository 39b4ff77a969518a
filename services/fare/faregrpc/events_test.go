package faregrpc_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

// TestEventsReachTheLog checks that the sequencer Register starts moves fare's events
// from the outbox to the sequenced log, in version order, keyed by the card's id.
func TestEventsReachTheLog(t *testing.T) {
	t.Parallel()
	h := start(t)
	v1 := h.create(t, inventoryCard(stayKey(), 100))
	if _, err := h.operator.UpdateRateCard(grpctest.Context(t), &farev1.UpdateRateCardRequest{
		RateCard: &farev1.RateCard{Id: v1.GetId(), Description: "v2"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	}); err != nil {
		t.Fatal(err)
	}
	// A bounded wait for the sequencer, not a timing assertion: it is woken on commit.
	deadline := time.Now().Add(15 * time.Second)
	for h.count(t, "event_log") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("event_log holds %d events, want 2; outbox holds %d", h.count(t, "event_log"), h.count(t, "outbox"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, err := h.pool.Query(t.Context(), "SELECT type, key, payload_type FROM event_log ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for i := 0; rows.Next(); i++ {
		var typ, key, payloadType string
		if err := rows.Scan(&typ, &key, &payloadType); err != nil {
			t.Fatal(err)
		}
		if typ != "fare.rate_card.updated" || key != v1.GetId() || !strings.HasSuffix(payloadType, "waybill.fare.v1.RateCardEvent") {
			t.Fatalf("event %d = %s %s %s", i, typ, key, payloadType)
		}
	}
	evs := h.events(t)
	if len(evs) != 2 || evs[0].GetRateCard().GetVersion() != 1 || evs[1].GetRateCard().GetVersion() != 2 {
		t.Fatalf("events %v, want versions 1 and 2", evs)
	}
}
