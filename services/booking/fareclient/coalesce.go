package fareclient

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/services/booking/booking"
)

// coalescer sends the quotes of concurrent holds to fare together: while maxInFlight
// calls to fare are in flight, the quotes asked for meanwhile wait and then go out as
// one BatchQuoteInventory call (up to maxBatch), the way a database groups commits. A
// hold arriving while fewer calls are in flight is sent at once as a plain
// QuoteInventory, so a mesh that is not busy pays no extra latency, and one slow call
// does not hold up every other hold; under load, fare's gRPC handling, its rate-card
// lookup and its quote insert (one statement and one commit per batch) are paid once per
// batch instead of once per hold. Every quote is still priced and stored by fare, from
// the rate card in effect when fare prices the batch: the versions a hold records mean
// exactly what they meant with one call per hold.
type coalescer struct {
	c *Client

	mu       sync.Mutex
	pending  []*waiter
	inFlight int
}

// maxInFlight is how many calls to fare a client makes at once before quotes start to
// wait for a batch.
const maxInFlight = 2

// waiter is one quote waiting for its batch.
type waiter struct {
	ctx  context.Context
	req  *farev1.QuoteInventoryRequest
	done chan quoteResult // buffered: the sender never blocks on a waiter that left
}

type quoteResult struct {
	q   booking.Quote
	err error
}

// quote prices req, alone or in a batch with the quotes of other holds asked for at the
// same time.
func (co *coalescer) quote(ctx context.Context, req *farev1.QuoteInventoryRequest) (booking.Quote, error) {
	w := &waiter{ctx: ctx, req: req, done: make(chan quoteResult, 1)}
	co.mu.Lock()
	co.pending = append(co.pending, w)
	var batch []*waiter
	if co.inFlight < maxInFlight {
		co.inFlight++
		batch = co.takeLocked()
	}
	co.mu.Unlock()
	if batch != nil {
		// This caller sends: the batch holds its own quote, so it waits for the call anyway,
		// and no other goroutine has to be woken to send it.
		co.send(batch)
		if next := co.next(); next != nil {
			go co.drain(next)
		}
	}
	select {
	case r := <-w.done:
		return r.q, r.err
	case <-ctx.Done():
		return booking.Quote{}, ctx.Err()
	}
}

// takeLocked removes up to maxBatch waiters from the queue; co.mu is held.
func (co *coalescer) takeLocked() []*waiter {
	n := min(len(co.pending), maxBatch)
	batch := co.pending[:n:n]
	co.pending = co.pending[n:]
	if len(co.pending) == 0 {
		co.pending = nil
	}
	return batch
}

// next returns the next batch to send, or nil (and one call fewer is in flight) when no
// quote is waiting.
func (co *coalescer) next() []*waiter {
	co.mu.Lock()
	defer co.mu.Unlock()
	if len(co.pending) == 0 {
		co.inFlight--
		return nil
	}
	return co.takeLocked()
}

// drain sends batches until no quote is waiting.
func (co *coalescer) drain(batch []*waiter) {
	for batch != nil {
		co.send(batch)
		batch = co.next()
	}
}

// send prices one batch and hands every waiter its result.
func (co *coalescer) send(batch []*waiter) {
	if len(batch) == 1 {
		q, err := co.c.quoteOne(batch[0].ctx, batch[0].req)
		batch[0].done <- quoteResult{q, err}
		return
	}
	// The call serves several callers: it carries the first one's values (trace context)
	// but no caller's cancellation, and the client's own deadline.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), co.c.timeout)
	defer cancel()
	req := &farev1.BatchQuoteInventoryRequest{Requests: make([]*farev1.QuoteInventoryRequest, len(batch))}
	for i, w := range batch {
		req.Requests[i] = w.req
	}
	resp, err := co.c.fare.BatchQuoteInventory(callCtx, req)
	if err == nil && len(resp.GetResults()) != len(batch) {
		err = status.Errorf(codes.Internal, "fare BatchQuoteInventory: %d results for %d requests", len(resp.GetResults()), len(batch))
	}
	if err != nil {
		if status.Code(err) == codes.InvalidArgument {
			// One request fare refuses fails the whole batch: ask for each alone, so that
			// only its own caller gets the error.
			for _, w := range batch {
				q, err := co.c.quoteOne(w.ctx, w.req)
				w.done <- quoteResult{q, err}
			}
			return
		}
		for _, w := range batch {
			w.done <- quoteResult{err: mapError(w.ctx, "BatchQuoteInventory", err)}
		}
		return
	}
	for i, r := range resp.GetResults() {
		w := batch[i]
		if r.GetStatus() != farev1.InventoryQuoteResult_STATUS_QUOTED {
			// What QuoteInventory answers NOT_FOUND for, in booking's terms (mapError).
			w.done <- quoteResult{err: errs.Precondition(booking.ReasonNotPriced, "the fare service has no rate card for this product")}
			continue
		}
		q, err := toQuote(r.GetQuote())
		w.done <- quoteResult{q, err}
	}
}
