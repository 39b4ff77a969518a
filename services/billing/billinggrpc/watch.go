package billinggrpc

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/services/billing/billing"
)

// watchHeartbeat is how long a watch stream stays silent before a heartbeat.
const watchHeartbeat = 15 * time.Second

// freshnessPoll is how often a watch stream looks for provider freshness changes.
const freshnessPoll = 500 * time.Millisecond

// previousStatuses says which statuses a bill may have left on each event type, so that a
// watch that never saw the bill still reports it leaving the filter.
var previousStatuses = map[string][]billingv1.BillStatus{
	string(billing.EventFinalized): {billingv1.BillStatus_BILL_STATUS_OPEN, billingv1.BillStatus_BILL_STATUS_FAILED},
	string(billing.EventPaid):      {billingv1.BillStatus_BILL_STATUS_FINALIZED},
	string(billing.EventFailed):    {billingv1.BillStatus_BILL_STATUS_FINALIZED},
	string(billing.EventSettled):   {billingv1.BillStatus_BILL_STATUS_PAID},
	string(billing.EventCancelled): {billingv1.BillStatus_BILL_STATUS_OPEN, billingv1.BillStatus_BILL_STATUS_FINALIZED, billingv1.BillStatus_BILL_STATUS_FAILED},
}

var changeTypes = map[string]billingv1.BillChangeType{
	string(billing.EventOpened):      billingv1.BillChangeType_BILL_CHANGE_TYPE_CREATED,
	string(billing.EventItemAdded):   billingv1.BillChangeType_BILL_CHANGE_TYPE_ITEM_ADDED,
	string(billing.EventItemUpdated): billingv1.BillChangeType_BILL_CHANGE_TYPE_ITEM_UPDATED,
	string(billing.EventItemRemoved): billingv1.BillChangeType_BILL_CHANGE_TYPE_ITEM_REMOVED,
}

// watch is one WatchBills stream: it follows billing's own event log (the same log its
// EventStreamService serves, read in process) and sends the changes that match.
type watch struct {
	s        *Server
	stream   grpc.ServerStreamingServer[billingv1.WatchBillsResponse]
	statuses []billingv1.BillStatus
	customer string
	billIDs  map[string]bool

	mu        sync.Mutex // serializes Send and guards the fields below
	cursor    string
	lastSend  time.Time
	matching  map[string]bool
	freshness map[string]billing.Freshness
}

// WatchBills implements billingv1.BillingServiceServer.
func (s *Server) WatchBills(req *billingv1.WatchBillsRequest, stream grpc.ServerStreamingServer[billingv1.WatchBillsResponse]) error {
	ctx := stream.Context()
	c, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if req.GetIncludeSnapshot() && req.GetAfterCursor() != "" {
		return errs.Invalid("after_cursor", "cannot be combined with include_snapshot")
	}
	if cur := req.GetAfterCursor(); cur != "" {
		if _, err := eventstream.DecodeCursor(cur); err != nil {
			return errs.Invalid("after_cursor", "is malformed; pass a cursor this stream sent")
		}
	}
	f := billing.ListFilter{Statuses: statusesOf(req.GetStatuses()), CustomerID: req.GetCustomerId()}
	if err := s.svc.CheckWatch(c, &f, req.GetBillIds()); err != nil {
		return err
	}
	w := &watch{s: s, stream: stream, statuses: req.GetStatuses(), customer: f.CustomerID,
		matching: map[string]bool{}, freshness: map[string]billing.Freshness{}, cursor: req.GetAfterCursor()}
	if len(req.GetBillIds()) > 0 {
		w.billIDs = map[string]bool{}
		for _, id := range req.GetBillIds() {
			w.billIDs[id] = true
		}
	}
	for _, p := range s.opts.Providers.Names() {
		w.freshness[p] = s.opts.Providers.Freshness(p)
	}
	switch {
	case req.GetIncludeSnapshot():
		if err := w.snapshot(ctx, c, f); err != nil {
			return err
		}
	case w.cursor == "":
		// No snapshot and no cursor: the stream starts with changes made from now on.
		head, err := s.opts.Head(ctx)
		if err != nil {
			return err
		}
		w.cursor = eventstream.EncodeCursor(head)
	}
	return w.follow(ctx)
}

// snapshot sends every bill that matches now, then SNAPSHOT_COMPLETE. The log position is
// taken first, so the live part that follows misses no change made meanwhile.
func (w *watch) snapshot(ctx context.Context, c caller.Caller, f billing.ListFilter) error {
	head, err := w.s.opts.Head(ctx)
	if err != nil {
		return err
	}
	w.cursor = eventstream.EncodeCursor(head)
	token := ""
	for {
		page, err := w.s.svc.ListBills(ctx, c, billing.ListQuery{Filter: f, PageSize: billing.MaxPageSize, PageToken: token})
		if err != nil {
			return err
		}
		for _, b := range page.Bills {
			if w.billIDs != nil && !w.billIDs[b.ID] {
				continue
			}
			w.matching[b.ID] = true
			if err := w.send(&billingv1.WatchBillsResponse{ChangeType: billingv1.BillChangeType_BILL_CHANGE_TYPE_SNAPSHOT, Bill: billToProto(b)}); err != nil {
				return err
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	return w.send(&billingv1.WatchBillsResponse{ChangeType: billingv1.BillChangeType_BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE})
}

// follow subscribes to billing's log after the cursor and sends matching changes,
// provider freshness changes and heartbeats until the client leaves or the log fails.
func (w *watch) follow(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- w.s.opts.Events.Subscribe(&eventsv1.SubscribeRequest{AfterCursor: w.cursor, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL},
			&localStream{ServerStream: w.stream, ctx: sctx, send: w.onEvent})
	}()
	w.mu.Lock()
	w.lastSend = time.Now()
	w.mu.Unlock()
	tick := time.NewTicker(freshnessPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
				return errs.Invalid("after_cursor", "%s", st.Message())
			}
			return err
		case <-tick.C:
			if err := w.checkFreshness(); err != nil {
				return err
			}
			if err := w.heartbeatIfIdle(); err != nil {
				return err
			}
		}
	}
}

// onEvent handles one message of billing's log.
func (w *watch) onEvent(m *eventsv1.SubscribeResponse) error {
	w.mu.Lock()
	w.cursor = m.GetCursor()
	w.mu.Unlock()
	ev := m.GetEvent()
	if ev == nil || ev.GetPayload() == nil {
		return nil
	}
	var be billingv1.BillEvent
	if err := ev.GetPayload().UnmarshalTo(&be); err != nil || be.GetBill() == nil {
		return nil
	}
	b := be.GetBill()
	if (w.customer != "" && b.GetCustomerId() != w.customer) || (w.billIDs != nil && !w.billIDs[b.GetId()]) {
		return nil
	}
	resp := &billingv1.WatchBillsResponse{Bill: b, ItemId: be.GetItem().GetId(), Cursor: m.GetCursor()}
	resp.ChangeType = billingv1.BillChangeType_BILL_CHANGE_TYPE_UPDATED
	if t, ok := changeTypes[ev.GetType()]; ok {
		resp.ChangeType = t
	}
	w.mu.Lock()
	matched := w.matching[b.GetId()]
	w.mu.Unlock()
	switch {
	case len(w.statuses) == 0 || slices.Contains(w.statuses, b.GetStatus()):
		w.mu.Lock()
		w.matching[b.GetId()] = true
		w.mu.Unlock()
	case matched || w.mayHaveMatched(ev.GetType()):
		resp.LeftFilter = true
		w.mu.Lock()
		delete(w.matching, b.GetId())
		w.mu.Unlock()
	default:
		return nil
	}
	w.decorate(b)
	return w.send(resp)
}

// mayHaveMatched reports whether the bill's status before an event of type t may have
// been one of the watched statuses.
func (w *watch) mayHaveMatched(t string) bool {
	for _, st := range previousStatuses[t] {
		if slices.Contains(w.statuses, st) {
			return true
		}
	}
	return false
}

// decorate sets the items' freshness, which events do not carry.
func (w *watch) decorate(b *billingv1.Bill) {
	for _, it := range b.GetItems() {
		if it.GetMainStatus() == 0 && it.GetProviderVersion() == 0 {
			it.Freshness = billingv1.FreshnessState_FRESHNESS_STATE_UNAVAILABLE
			continue
		}
		f := w.s.opts.Providers.Freshness(it.GetProvider())
		it.Freshness = billingv1.FreshnessState(f.State)
		it.AsOfTime = timestamp(f.AsOf)
	}
}

// checkFreshness sends one PROVIDER_FRESHNESS_CHANGED per provider whose state changed.
func (w *watch) checkFreshness() error {
	for _, p := range w.s.opts.Providers.Names() {
		f := w.s.opts.Providers.Freshness(p)
		w.mu.Lock()
		prev := w.freshness[p]
		w.freshness[p] = f
		w.mu.Unlock()
		if prev.State == f.State {
			continue
		}
		var asOf *timestamppb.Timestamp
		if !f.AsOf.IsZero() {
			asOf = timestamppb.New(f.AsOf)
		}
		if err := w.send(&billingv1.WatchBillsResponse{
			ChangeType:        billingv1.BillChangeType_BILL_CHANGE_TYPE_PROVIDER_FRESHNESS_CHANGED,
			ProviderFreshness: &billingv1.ProviderFreshness{Provider: p, Freshness: billingv1.FreshnessState(f.State), AsOfTime: asOf},
		}); err != nil {
			return err
		}
	}
	return nil
}

// heartbeatIfIdle sends a heartbeat when nothing was sent for watchHeartbeat.
func (w *watch) heartbeatIfIdle() error {
	w.mu.Lock()
	idle := time.Since(w.lastSend) >= w.s.opts.Heartbeat
	w.mu.Unlock()
	if !idle {
		return nil
	}
	return w.send(&billingv1.WatchBillsResponse{Heartbeat: true})
}

// send sends m with the current cursor (unless m has its own), one message at a time.
func (w *watch) send(m *billingv1.WatchBillsResponse) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m.Cursor == "" {
		m.Cursor = w.cursor
	}
	w.lastSend = time.Now()
	return w.stream.Send(m)
}

// localStream is an in-process EventStreamService stream: the messages the event stream
// server sends go to a function instead of the network.
type localStream struct {
	grpc.ServerStream
	ctx  context.Context
	send func(*eventsv1.SubscribeResponse) error
}

// Context implements grpc.ServerStream.
func (l *localStream) Context() context.Context { return l.ctx }

// Send implements grpc.ServerStreamingServer.
func (l *localStream) Send(m *eventsv1.SubscribeResponse) error { return l.send(m) }
