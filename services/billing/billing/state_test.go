package billing

import (
	"errors"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

func TestCanTransition(t *testing.T) {
	all := []Status{StatusOpen, StatusFinalized, StatusPaid, StatusSettled, StatusFailed, StatusCancelled}
	allowed := map[[2]Status]bool{
		{StatusOpen, StatusFinalized}:      true,
		{StatusOpen, StatusCancelled}:      true,
		{StatusFinalized, StatusPaid}:      true,
		{StatusFinalized, StatusFailed}:    true,
		{StatusFinalized, StatusCancelled}: true,
		{StatusFailed, StatusFinalized}:    true,
		{StatusFailed, StatusCancelled}:    true,
		{StatusPaid, StatusSettled}:        true,
	}
	for _, from := range all {
		for _, to := range all {
			if got, want := CanTransition(from, to), allowed[[2]Status{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func eur(v int64) money.Money { return money.Money{Amount: v, Currency: "EUR"} }

func item(id string, st MainStatus, amount money.Money) Item {
	return Item{ID: id, Provider: "booking", ReservationID: "r-" + id, Summary: &Summary{MainStatus: st, Amount: amount}}
}

func TestBillOperations(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	type op func(b *Bill) (Change, error)
	add := func(it Item) op { return func(b *Bill) (Change, error) { return b.AddItem(it) } }
	remove := func(id string) op { return func(b *Bill) (Change, error) { return b.RemoveItem(id) } }
	finalize := func(b *Bill) (Change, error) { return b.Finalize(now) }
	cancel := func(b *Bill) (Change, error) { return b.Cancel("customer asked", now) }
	tests := []struct {
		name       string
		status     Status
		items      []Item
		op         op
		wantErr    error
		wantReason string
		wantStatus Status
		wantEvent  EventType
	}{
		{"add to open", StatusOpen, nil, add(item("a", MainStatusPending, eur(100))), nil, "", StatusOpen, EventItemAdded},
		{"add twice", StatusOpen, []Item{item("a", MainStatusPending, eur(100))}, add(item("a", MainStatusPending, eur(100))), errs.AlreadyExists, ReasonAlreadyBilled, StatusOpen, ""},
		{"add to finalized", StatusFinalized, nil, add(item("a", MainStatusPending, eur(100))), errs.FailedPrecondition, ReasonBillNotOpen, StatusFinalized, ""},
		{"add to cancelled", StatusCancelled, nil, add(item("a", MainStatusPending, eur(100))), errs.FailedPrecondition, ReasonBillNotOpen, StatusCancelled, ""},
		{"remove", StatusOpen, []Item{item("a", MainStatusPending, eur(100))}, remove("a"), nil, "", StatusOpen, EventItemRemoved},
		{"remove unknown", StatusOpen, []Item{item("a", MainStatusPending, eur(100))}, remove("b"), errs.NotFound, ReasonItemNotFound, StatusOpen, ""},
		{"remove from paid", StatusPaid, []Item{item("a", MainStatusPending, eur(100))}, remove("a"), errs.FailedPrecondition, ReasonBillNotOpen, StatusPaid, ""},
		{"finalize", StatusOpen, []Item{item("a", MainStatusConfirmed, eur(100))}, finalize, nil, "", StatusFinalized, EventFinalized},
		{"finalize empty", StatusOpen, nil, finalize, errs.FailedPrecondition, ReasonBillEmpty, StatusOpen, ""},
		{"finalize only cancelled items", StatusOpen, []Item{item("a", MainStatusCancelled, eur(100))}, finalize, errs.FailedPrecondition, ReasonBillEmpty, StatusOpen, ""},
		{"finalize without summary", StatusOpen, []Item{{ID: "a"}}, finalize, errs.FailedPrecondition, ReasonItemSummaryUnavailable, StatusOpen, ""},
		{"finalize two currencies", StatusOpen, []Item{item("a", MainStatusConfirmed, eur(100)), item("b", MainStatusConfirmed, money.Money{Amount: 5, Currency: "USD"})}, finalize, errs.FailedPrecondition, ReasonCurrencyMismatch, StatusOpen, ""},
		{"finalize other currency", StatusOpen, []Item{item("a", MainStatusConfirmed, money.Money{Amount: 5, Currency: "USD"})}, finalize, errs.FailedPrecondition, ReasonCurrencyMismatch, StatusOpen, ""},
		{"finalize twice", StatusFinalized, []Item{item("a", MainStatusConfirmed, eur(100))}, finalize, errs.FailedPrecondition, ReasonBillNotOpen, StatusFinalized, ""},
		{"cancel open", StatusOpen, nil, cancel, nil, "", StatusCancelled, EventCancelled},
		{"cancel finalized", StatusFinalized, nil, cancel, nil, "", StatusCancelled, EventCancelled},
		{"cancel failed", StatusFailed, nil, cancel, nil, "", StatusCancelled, EventCancelled},
		{"cancel paid", StatusPaid, nil, cancel, errs.FailedPrecondition, ReasonBillNotCancellable, StatusPaid, ""},
		{"cancel settled", StatusSettled, nil, cancel, errs.FailedPrecondition, ReasonBillNotCancellable, StatusSettled, ""},
		{"cancel cancelled", StatusCancelled, nil, cancel, errs.FailedPrecondition, ReasonBillNotCancellable, StatusCancelled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Bill{ID: "b1", Currency: "EUR", Status: tt.status, Items: append([]Item(nil), tt.items...)}
			ch, err := tt.op(b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if e, ok := errs.As(err); tt.wantReason != "" && (!ok || e.Reason != tt.wantReason) {
				t.Fatalf("err = %v, want reason %s", err, tt.wantReason)
			}
			if b.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", b.Status, tt.wantStatus)
			}
			if ch.Event != tt.wantEvent {
				t.Errorf("event = %q, want %q", ch.Event, tt.wantEvent)
			}
		})
	}
}

func TestFinalizeFreezesAmounts(t *testing.T) {
	b := &Bill{ID: "b1", Currency: "EUR", Status: StatusOpen, Items: []Item{
		item("a", MainStatusConfirmed, eur(1000)),
		item("b", MainStatusPending, eur(250)),
		item("c", MainStatusExpired, eur(999)),
	}}
	if got := b.Totals(); len(got) != 1 || got[0] != eur(1250) {
		t.Fatalf("open totals = %v, want [1250 EUR]", got)
	}
	if _, err := b.Finalize(time.Now()); err != nil {
		t.Fatal(err)
	}
	// A later price change of an item does not change the billed total.
	b.Items[0].Summary.Amount = eur(5000)
	if got := b.Totals(); len(got) != 1 || got[0] != eur(1250) {
		t.Fatalf("finalized totals = %v, want [1250 EUR]", got)
	}
	if b.Items[2].Billed != eur(0) {
		t.Errorf("expired item billed %v, want 0 EUR", b.Items[2].Billed)
	}
}

func TestSetSubStatusSameValueChangesNothing(t *testing.T) {
	b := &Bill{SubStatus: "x"}
	if ch := b.SetSubStatus("x"); ch.Event != "" {
		t.Errorf("same value emitted %q", ch.Event)
	}
	if ch := b.SetSubStatus("y"); ch.Event != EventSubStatusChanged || b.SubStatus != "y" {
		t.Errorf("new value: event %q, sub-status %q", ch.Event, b.SubStatus)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"empty uuid", ids.Check("bill_id", ""), "bill_id"},
		{"bad uuid", ids.Check("bill_id", "not-a-uuid"), "bill_id"},
		{"lower currency", money.CheckCurrency("currency_code", "eur"), "currency_code"},
		{"long currency", money.CheckCurrency("currency_code", "EURO"), "currency_code"},
		{"unknown currency", money.CheckCurrency("currency_code", "ZZZ"), "currency_code"},
		{"space in id", validateID("customer_id", "a b"), "customer_id"},
		{"negative version", validateVersion(-1), "expected_version"},
		{"long sub-status", validateText("sub_status", string(make([]rune, 65)), MaxSubStatus), "sub_status"},
	}
	for _, tt := range tests {
		e, ok := errs.As(tt.err)
		if !ok || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
			t.Errorf("%s: err = %v, want INVALID_ARGUMENT naming %s", tt.name, tt.err, tt.field)
		}
	}
	if err := ids.Check("bill_id", NewID()); err != nil {
		t.Errorf("NewID is not a UUID: %v", err)
	}
}
