package billing

import (
	"context"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/caller"
)

// billsStore is a Store holding fixed bills; only CustomerBills is used.
type billsStore struct {
	Store
	bills []Bill
}

func (s billsStore) CustomerBills(_ context.Context, customerID string, statuses []Status) ([]Bill, error) {
	var out []Bill
	for _, b := range s.bills {
		for _, st := range statuses {
			if b.CustomerID == customerID && b.Status == st {
				out = append(out, b)
			}
		}
	}
	return out, nil
}

func TestAccountStanding(t *testing.T) {
	now := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
	bill := func(id string, st Status, finalizedAgo time.Duration, amount int64) Bill {
		b := Bill{ID: id, CustomerID: "c", Currency: "EUR", Status: st, Items: []Item{{Billed: eur(amount), Summary: &Summary{MainStatus: MainStatusConfirmed, Amount: eur(amount)}}}}
		if st != StatusOpen {
			b.FinalizeTime = now.Add(-finalizedAgo)
		}
		return b
	}
	tests := []struct {
		name        string
		bills       []Bill
		level       StandingLevel
		reason      string
		outstanding int64
	}{
		{"no bills", nil, StandingGood, "", 0},
		{"open bill only", []Bill{bill("o", StatusOpen, 0, 100)}, StandingGood, "", 0},
		{"finalized within grace", []Bill{bill("f", StatusFinalized, time.Hour, 100)}, StandingGood, "", 100},
		{"paid long ago", []Bill{bill("p", StatusPaid, 30*24*time.Hour, 100)}, StandingGood, "", 0},
		{"overdue", []Bill{bill("f", StatusFinalized, 80*time.Hour, 100)}, StandingPastDue, ReasonOverdue, 100},
		{"payment failed", []Bill{bill("x", StatusFailed, time.Hour, 100)}, StandingPastDue, ReasonPaymentFailed, 100},
		{"blocked", []Bill{bill("f", StatusFinalized, 8*24*time.Hour, 100), bill("x", StatusFailed, time.Hour, 50)}, StandingBlocked, ReasonOverdueTooLong, 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := New(billsStore{bills: tt.bills}, nil, Options{Now: func() time.Time { return now }})
			st, err := svc.AccountStanding(context.Background(), caller.Caller{Subject: "trip", Role: caller.Service}, "c")
			if err != nil {
				t.Fatal(err)
			}
			var out int64
			for _, m := range st.Outstanding {
				out += m.Amount
			}
			if st.Level != tt.level || st.ReasonCode != tt.reason || out != tt.outstanding {
				t.Fatalf("standing = %v %q outstanding %d, want %v %q %d", st.Level, st.ReasonCode, out, tt.level, tt.reason, tt.outstanding)
			}
			if (st.Level == StandingGood) != (len(st.OverdueBillIDs) == 0) {
				t.Fatalf("overdue bills %v for %v", st.OverdueBillIDs, st.Level)
			}
		})
	}
	svc := New(billsStore{}, nil, Options{})
	if _, err := svc.AccountStanding(context.Background(), caller.Caller{Subject: "c2", Role: caller.Customer}, "c"); err == nil {
		t.Fatal("a customer read another's standing")
	}
}
