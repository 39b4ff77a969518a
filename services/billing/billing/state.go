package billing

import (
	"cmp"
	"slices"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
)

// EventType is the type of an event billing emits, "billing.bill.<verb>".
type EventType string

// The event types billing emits; each payload is the bill after the change.
const (
	EventOpened           EventType = "billing.bill.opened"
	EventItemAdded        EventType = "billing.bill.item_added"
	EventItemUpdated      EventType = "billing.bill.item_updated"
	EventItemRemoved      EventType = "billing.bill.item_removed"
	EventSubStatusChanged EventType = "billing.bill.sub_status_changed"
	EventFinalized        EventType = "billing.bill.finalized"
	EventPaid             EventType = "billing.bill.paid"
	EventFailed           EventType = "billing.bill.failed"
	EventSettled          EventType = "billing.bill.settled"
	EventCancelled        EventType = "billing.bill.cancelled"
)

// EventTypes lists every event type billing emits, for its EventStreamService.
var EventTypes = []string{
	string(EventOpened), string(EventItemAdded), string(EventItemUpdated), string(EventItemRemoved),
	string(EventSubStatusChanged), string(EventFinalized), string(EventPaid), string(EventFailed),
	string(EventSettled), string(EventCancelled),
}

// transitions lists the allowed main status moves of a bill:
//
//	OPEN      → FINALIZED, CANCELLED
//	FINALIZED → PAID, FAILED, CANCELLED
//	FAILED    → FINALIZED (a retried payment), CANCELLED
//	PAID      → SETTLED
//
// SETTLED and CANCELLED are terminal.
var transitions = map[Status][]Status{
	StatusOpen:      {StatusFinalized, StatusCancelled},
	StatusFinalized: {StatusPaid, StatusFailed, StatusCancelled},
	StatusFailed:    {StatusFinalized, StatusCancelled},
	StatusPaid:      {StatusSettled},
}

// CanTransition reports whether a bill may move from status from to status to.
func CanTransition(from, to Status) bool {
	return slices.Contains(transitions[from], to)
}

// Change says what a mutation changed, for the store to persist and announce.
type Change struct {
	// Event is the event to emit; empty means nothing changed (the version stays).
	Event EventType
	// Added is the item that was added, with the summary to store for it.
	Added *Item
	// Removed is the item that was removed, in its last state.
	Removed *Item
	// Froze says that every item's Billed amount was set.
	Froze bool
	// Touched says that the bill changed (its version increases) even without an event,
	// for example when a pay saga starts on a FINALIZED bill.
	Touched bool
}

// checkVersion fails with ABORTED (VERSION_MISMATCH) unless expected is 0 or the bill's
// version: the caller read an older bill, and may read it again and retry.
func (b *Bill) checkVersion(expected int64) error {
	if expected != 0 && expected != b.Version {
		return errs.Abort(ReasonVersionMismatch, "bill %s is at version %d, not %d", b.ID, b.Version, expected)
	}
	return nil
}

// requireOpen fails unless the bill is OPEN.
func (b *Bill) requireOpen() error {
	if b.Status != StatusOpen {
		return errs.Precondition(ReasonBillNotOpen, "bill %s is %s, not open", b.ID, b.Status)
	}
	return nil
}

// AddItem appends it to the OPEN bill. A reservation already on the bill fails with
// ALREADY_EXISTS (RESERVATION_ALREADY_BILLED).
func (b *Bill) AddItem(it Item) (Change, error) {
	if err := b.requireOpen(); err != nil {
		return Change{}, err
	}
	pos := 0
	for _, have := range b.Items {
		if have.Provider == it.Provider && have.ReservationID == it.ReservationID {
			return Change{}, errs.Exists(ReasonAlreadyBilled, "reservation %s is already on bill %s", it.ReservationID, b.ID)
		}
		pos = max(pos, have.Position)
	}
	it.Position = pos + 1
	b.Items = append(b.Items, it)
	added := it
	return Change{Event: EventItemAdded, Added: &added}, nil
}

// RemoveItem removes the item with id itemID from the OPEN bill.
func (b *Bill) RemoveItem(itemID string) (Change, error) {
	if err := b.requireOpen(); err != nil {
		return Change{}, err
	}
	for i, it := range b.Items {
		if it.ID == itemID {
			b.Items = slices.Delete(b.Items, i, i+1)
			return Change{Event: EventItemRemoved, Removed: &it}, nil
		}
	}
	return Change{}, errs.Missing(ReasonItemNotFound, "bill %s has no item %s", b.ID, itemID)
}

// Finalize freezes the OPEN bill: each billable item's current amount becomes its billed
// amount (CANCELLED and EXPIRED items are billed zero) and the bill becomes FINALIZED.
func (b *Bill) Finalize(now time.Time) (Change, error) {
	if err := b.requireOpen(); err != nil {
		return Change{}, err
	}
	billable := 0
	for _, it := range b.Items {
		if it.Summary == nil || it.Summary.Amount.Currency == "" {
			return Change{}, errs.Precondition(ReasonItemSummaryUnavailable, "item %s has no summary yet; retry later or remove it", it.ID)
		}
		if it.Summary.MainStatus.Billable() {
			billable++
		}
	}
	if billable == 0 {
		return Change{}, errs.Precondition(ReasonBillEmpty, "bill %s has no billable item", b.ID)
	}
	totals := b.Totals()
	if len(totals) != 1 || totals[0].Currency != b.Currency {
		return Change{}, errs.Precondition(ReasonCurrencyMismatch, "bill %s is in %s but its items total in %d currencies; remove the items in other currencies", b.ID, b.Currency, len(totals))
	}
	for i := range b.Items {
		s := b.Items[i].Summary
		if s.MainStatus.Billable() {
			b.Items[i].Billed = s.Amount
		} else {
			b.Items[i].Billed = money.Money{Currency: s.Amount.Currency}
		}
	}
	b.Status = StatusFinalized
	b.FinalizeTime = now
	return Change{Event: EventFinalized, Froze: true}, nil
}

// Cancel moves an OPEN, FINALIZED or FAILED bill to CANCELLED; its items are released.
func (b *Bill) Cancel(reason string, now time.Time) (Change, error) {
	if !CanTransition(b.Status, StatusCancelled) {
		return Change{}, errs.Precondition(ReasonBillNotCancellable, "bill %s is %s and cannot be cancelled", b.ID, b.Status)
	}
	if b.Saga != nil && b.Saga.State.Active() {
		return Change{}, errs.Precondition(ReasonPaymentInProgress, "bill %s has a payment in progress", b.ID)
	}
	b.Status = StatusCancelled
	b.CancelTime = now
	b.CancelReason = reason
	return Change{Event: EventCancelled}, nil
}

// SetSubStatus sets the bill's sub-status; setting the current value changes nothing.
func (b *Bill) SetSubStatus(sub string) Change {
	if b.SubStatus == sub {
		return Change{}
	}
	b.SubStatus = sub
	return Change{Event: EventSubStatusChanged}
}

// Totals returns the sum of the billable items' amounts per currency, ordered by
// currency: the current amounts while the bill is OPEN (or CANCELLED before it was
// finalized), the billed amounts from FINALIZED on. CANCELLED and EXPIRED items, and items
// without a summary, count as zero.
func (b *Bill) Totals() []money.Money {
	sums := map[string]int64{}
	frozen := !b.FinalizeTime.IsZero()
	for _, it := range b.Items {
		var m money.Money
		switch {
		case frozen:
			m = it.Billed
		case it.Summary != nil && it.Summary.MainStatus.Billable():
			m = it.Summary.Amount
		}
		if m.Currency == "" {
			continue
		}
		if frozen && m.Amount == 0 {
			continue
		}
		sums[m.Currency] += m.Amount
	}
	out := make([]money.Money, 0, len(sums))
	for c, v := range sums {
		out = append(out, money.Money{Amount: v, Currency: c})
	}
	slices.SortFunc(out, func(a, b money.Money) int { return cmp.Compare(a.Currency, b.Currency) })
	return out
}
