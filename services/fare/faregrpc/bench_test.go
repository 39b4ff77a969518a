package faregrpc_test

import (
	"testing"
	"time"

	"github.com/waybill/waybill/kit/grpctest"
)

// BenchmarkQuoteInventory measures one seat quote through gRPC on loopback: the card
// lookup (one indexed query) and the quote's insert. Run with -bench QuoteInventory.
func BenchmarkQuoteInventory(b *testing.B) {
	h := start(b)
	h.create(b, inventoryCard(seatKey(""), 10000))
	h.create(b, inventoryCard(seatKey("dep-1"), 12000))
	req := seatQuote("dep-2", 2, 8500) // falls back to the route's card
	ctx := grpctest.Context(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.customer.QuoteInventory(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "quotes/s")
}
