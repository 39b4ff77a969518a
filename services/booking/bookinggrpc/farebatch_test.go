package bookinggrpc_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/services/booking/booking"
)

// TestConcurrentHoldsShareFareCalls: holds made at the same time get their quotes from
// fare in shared BatchQuoteInventory calls (fareclient's coalescer), and each still gets
// its own stored quote, the price of its own product, and NOT_PRICED (with nothing
// written) when its product has no rate card, whatever the others in its batch got.
func TestConcurrentHoldsShareFareCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	card := e.rateCard(t, seatKey("economy"), 10000) // business has no rate card
	d := e.createDeparture(t, departure(72*time.Hour, 200))
	e.fareCalls.Take()

	const holds, unpriced = 48, 8
	type answer struct {
		r   *bookingv1.Reservation
		err error
	}
	answers := make([]answer, holds)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range holds {
		wg.Go(func() {
			req := seatHold(d.GetId(), 1)
			if i < unpriced {
				req.GetReservation().GetSeat().FareClass = "business"
			}
			<-start
			resp, err := e.cust.CreateReservation(grpctest.Context(t), req)
			answers[i] = answer{resp.GetReservation(), err}
		})
	}
	close(start)
	wg.Wait()

	quotes := map[string]bool{}
	for i, a := range answers {
		if i < unpriced {
			grpctest.WantReason(t, a.err, codes.FailedPrecondition, booking.ReasonNotPriced)
			continue
		}
		if a.err != nil {
			t.Fatalf("hold %d: %v", i, a.err)
		}
		if got := a.r.GetPrice().GetAmountMinor(); got != 10000 || a.r.GetRateCardId() != card.GetId() {
			t.Errorf("hold %d: price %d from card %s, want 10000 from %s", i, got, a.r.GetRateCardId(), card.GetId())
		}
		if q := a.r.GetQuoteId(); q == "" || quotes[q] {
			t.Errorf("hold %d: quote id %q missing or shared", i, q)
		}
		quotes[a.r.GetQuoteId()] = true
	}
	single := e.fareCalls.Count(farev1.FareService_QuoteInventory_FullMethodName)
	batches := e.fareCalls.Count(farev1.FareService_BatchQuoteInventory_FullMethodName)
	if batches == 0 || single+batches >= holds {
		t.Errorf("%d holds made %d QuoteInventory and %d BatchQuoteInventory calls; want them to share calls", holds, single, batches)
	}
	if got := e.fareClass(t, d.GetId(), "economy").GetSeatsHeld(); got != holds-unpriced {
		t.Errorf("economy held %d, want %d", got, holds-unpriced)
	}
	if got := e.count(t, "SELECT count(*) FROM reservation"); got != holds-unpriced {
		t.Errorf("%d reservations stored, want %d", got, holds-unpriced)
	}
	t.Logf("%d holds: %d QuoteInventory + %d BatchQuoteInventory calls", holds, single, batches)
}
