package paymentpg_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/payment/payment"
	"github.com/waybill/waybill/services/payment/paymentpg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var t0 = time.Date(2030, 5, 10, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) *paymentpg.Store {
	t.Helper()
	return paymentpg.New(pgtest.NewDB(t, "payment", paymentpg.Migrations), paymentpg.Options{})
}

// seed inserts a method and a captured payment of 1000 EUR.
func seed(t *testing.T, s *paymentpg.Store) payment.Payment {
	t.Helper()
	ctx := context.Background()
	m := payment.PaymentMethod{ID: payment.NewID(), CustomerID: "c1", Processor: "simulator", Token: "tok",
		Brand: payment.BrandVisa, Last4: "4242", ExpiryMonth: 12, ExpiryYear: 2040, Status: payment.MethodActive,
		CreateTime: t0, UpdateTime: t0, Version: 1}
	p := payment.Payment{ID: payment.NewID(), CustomerID: "c1", MethodID: m.ID, Currency: "EUR", Authorized: 1000,
		Captured: 1000, Status: payment.StatusCaptured, Processor: "simulator", CreateTime: t0, UpdateTime: t0, Version: 1}
	op := payment.Operation{ID: payment.NewID(), PaymentID: p.ID, Type: payment.OpCapture, Status: payment.OpSucceeded,
		Amount: payment.Money{Amount: 1000, Currency: "EUR"}, CreateTime: t0, CompleteTime: t0}
	err := s.InTx(ctx, func(tx payment.Tx) error {
		if err := tx.InsertMethod(ctx, m); err != nil {
			return err
		}
		if err := tx.InsertPayment(ctx, p); err != nil {
			return err
		}
		return tx.InsertOperation(ctx, op)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPaymentRoundTripAndTimeline(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	p := seed(t, s)
	got, err := s.GetPayment(context.Background(), p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Captured != 1000 || got.Status != payment.StatusCaptured || !got.CreateTime.Equal(t0) || len(got.Timeline) != 1 {
		t.Fatalf("got %+v", got)
	}
	if _, err := s.GetPayment(context.Background(), payment.NewID(), false); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("missing payment: %v", err)
	}
}

// The database itself refuses refunds beyond the captured amount and reservations beyond the
// limits, whatever the Go code decides.
func TestAmountsAreEnforcedInSQL(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	p := seed(t, s)
	ctx := context.Background()
	update := func(f func(*payment.Payment)) error {
		return s.InTx(ctx, func(tx payment.Tx) error {
			cur, err := tx.LockPayment(ctx, p.ID)
			if err != nil {
				return err
			}
			f(&cur)
			return tx.UpdatePayment(ctx, cur)
		})
	}
	if err := update(func(p *payment.Payment) { p.Refunded = 1001 }); err == nil {
		t.Fatal("refunded beyond captured was stored")
	}
	if err := update(func(p *payment.Payment) { p.Captured = 1001 }); err == nil {
		t.Fatal("captured beyond authorized was stored")
	}
	if err := update(func(p *payment.Payment) {
		p.Refunded = 600
		p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = payment.NewID(), payment.OpRefund, 401, t0
	}); err == nil {
		t.Fatal("a refund reservation beyond the refundable amount was stored")
	}
	if err := update(func(p *payment.Payment) {
		p.Refunded = 600
		p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = payment.NewID(), payment.OpRefund, 400, t0
	}); err != nil {
		t.Fatalf("a reservation within limits: %v", err)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	k := payment.Key{Method: "M", Key: "k1", Hash: []byte{1}, LockID: payment.NewID(), LockedAt: t0, CreateTime: t0,
		ResourceID: "r", OperationID: "o"}
	if got, err := s.InsertKey(ctx, k, t0.Add(-24*time.Hour)); err != nil || got != nil {
		t.Fatalf("first insert: %v, %v", got, err)
	}
	other := k
	other.Hash, other.LockID = []byte{2}, payment.NewID()
	got, err := s.InsertKey(ctx, other, t0.Add(-24*time.Hour))
	if err != nil || got == nil || !bytes.Equal(got.Hash, []byte{1}) || got.Completed || got.LockID != k.LockID || got.OperationID != "o" {
		t.Fatalf("second insert: %+v, %v", got, err)
	}
	// Only the holder of the lock completes the key.
	err = s.InTx(ctx, func(tx payment.Tx) error { return tx.CompleteKey(ctx, other) })
	if !errors.Is(err, payment.ErrKeyLost) {
		t.Fatalf("complete with another lock: %v", err)
	}
	newLock := payment.NewID()
	if ok, err := s.TakeOverKey(ctx, "M", "k1", k.LockID, newLock, t0.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("take over: %v %v", ok, err)
	}
	if ok, _ := s.TakeOverKey(ctx, "M", "k1", k.LockID, payment.NewID(), t0.Add(time.Minute)); ok {
		t.Fatal("a stale lock took the key over twice")
	}
	k.LockID, k.Response, k.Completed = newLock, []byte("resp"), true
	if err := s.InTx(ctx, func(tx payment.Tx) error { return tx.CompleteKey(ctx, k) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetKey(ctx, "M", "k1"); !got.Completed || string(got.Response) != "resp" {
		t.Fatalf("completed key %+v", got)
	}
	// After 24 hours the key is new again.
	later := other
	later.CreateTime = t0.Add(25 * time.Hour)
	if got, err := s.InsertKey(ctx, later, t0.Add(time.Hour)); err != nil || got != nil {
		t.Fatalf("expired key not replaced: %+v %v", got, err)
	}
	if got, _ := s.GetKey(ctx, "M", "k1"); got.Completed || !bytes.Equal(got.Hash, []byte{2}) {
		t.Fatalf("replaced key %+v", got)
	}
	if n, err := s.DeleteExpiredKeys(ctx, t0.Add(26*time.Hour), 10); n != 1 || err != nil {
		t.Fatalf("delete expired: %d %v", n, err)
	}
}

func TestSettlementClaimsEachOperationOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	p := seed(t, s)
	ctx := context.Background()
	date := payment.DateOf(t0)
	st := payment.Settlement{ID: payment.NewID(), Date: date, Status: payment.SettlementRunning, RequestID: "r1",
		CreateTime: t0, UpdateTime: t0, Version: 1}
	var claimed []payment.Operation
	err := s.InTx(ctx, func(tx payment.Tx) error {
		if err := tx.InsertSettlement(ctx, st); err != nil {
			return err
		}
		var err error
		claimed, err = tx.ClaimOperations(ctx, st.ID, date.Time().AddDate(0, 0, 1))
		return err
	})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	again := st
	again.ID, again.RequestID = payment.NewID(), "r2"
	err = s.InTx(ctx, func(tx payment.Tx) error { return tx.InsertSettlement(ctx, again) })
	if !errors.Is(err, payment.ErrAlreadyExists) {
		t.Fatalf("second settlement of a date: %v", err)
	}
	err = s.InTx(ctx, func(tx payment.Tx) error {
		st.Status, st.Totals = payment.SettlementCompleted, []payment.SettlementTotal{{Currency: "EUR", Captured: 1000, CaptureCount: 1}}
		if err := tx.UpdateSettlement(ctx, st); err != nil {
			return err
		}
		ps, err := tx.MarkSettled(ctx, st.ID, t0)
		if err != nil || len(ps) != 1 || !ps[0].SettleTime.Equal(t0) || ps[0].ID != p.ID {
			t.Errorf("mark settled: %+v %v", ps, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSettlement(ctx, st.ID)
	if err != nil || len(got.Totals) != 1 || got.Totals[0].Captured != 1000 || got.Status != payment.SettlementCompleted {
		t.Fatalf("settlement %+v %v", got, err)
	}
}
