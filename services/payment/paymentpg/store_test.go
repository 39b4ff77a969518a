package paymentpg_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/money"
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
		Amount: money.New(1000, "EUR"), CreateTime: t0, CompleteTime: t0}
	err := s.Transact(ctx, func(tx payment.Tx) error {
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
	if _, err := s.GetPayment(context.Background(), payment.NewID(), false); !errors.Is(err, errs.NotFound) {
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
		return s.Transact(ctx, func(tx payment.Tx) error {
			cur, err := tx.LockPayment(ctx, p.ID)
			if err != nil {
				return err
			}
			f(&cur)
			return tx.UpdatePayment(ctx, cur)
		})
	}
	// Each refusal is the domain's reason for the limit, not an invalid argument.
	refused := func(err error, reason, what string) {
		t.Helper()
		if !errors.Is(err, &errs.Error{Kind: errs.FailedPrecondition, Reason: reason}) {
			t.Fatalf("%s: %v, want FAILED_PRECONDITION %s", what, err, reason)
		}
	}
	refused(update(func(p *payment.Payment) { p.Refunded = 1001 }), payment.ReasonExceedsRefundable, "refunded beyond captured")
	refused(update(func(p *payment.Payment) { p.Captured = 1001 }), payment.ReasonExceedsCapturable, "captured beyond authorized")
	refused(update(func(p *payment.Payment) {
		p.Refunded = 600
		p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = payment.NewID(), payment.OpRefund, 401, t0
	}), payment.ReasonExceedsReservable, "a refund reservation beyond the refundable amount")
	if err := update(func(p *payment.Payment) {
		p.Refunded = 600
		p.BusyOperationID, p.BusyType, p.BusyAmount, p.BusySince = payment.NewID(), payment.OpRefund, 400, t0
	}); err != nil {
		t.Fatalf("a reservation within limits: %v", err)
	}
}

// The store's keys are idempotencypg's lease on the schema's idempotency_keys table: a key
// completed in the transaction that records the outcome is replayed; one completed with
// another attempt's lock is refused and the transaction rolls back.
func TestKeys(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	p := seed(t, s)
	ctx := context.Background()
	k := idempotency.Key{Method: "M", Subject: "billing", RequestID: "k1", Hash: []byte{1}}
	c, err := s.AcquireKey(ctx, k, []byte("memo"))
	if err != nil || c.Replayed || c.Recovered {
		t.Fatalf("first acquire: %+v, %v", c, err)
	}
	other := k
	other.Hash = []byte{2}
	if _, err := s.AcquireKey(ctx, other, nil); !errors.Is(err, idempotency.ErrRequestIDReused) {
		t.Fatalf("other parameters: %v", err)
	}
	if _, err := s.AcquireKey(ctx, k, nil); !errors.Is(err, idempotency.ErrRequestInProgress) {
		t.Fatalf("in flight: %v", err)
	}
	err = s.Transact(ctx, func(tx payment.Tx) error {
		if _, err := tx.LockPayment(ctx, p.ID); err != nil {
			return err
		}
		return tx.CompleteKey(ctx, c, []byte("result"), false)
	})
	if err != nil {
		t.Fatal(err)
	}
	replay, err := s.AcquireKey(ctx, k, nil)
	if err != nil || !replay.Replayed || string(replay.Result) != "result" || string(replay.Memo) != "memo" {
		t.Fatalf("replay: %+v, %v", replay, err)
	}
	if n, err := s.PruneKeys(ctx); n != 0 || err != nil {
		t.Fatalf("prune of live keys: %d %v", n, err)
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
	err := s.Transact(ctx, func(tx payment.Tx) error {
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
	err = s.Transact(ctx, func(tx payment.Tx) error { return tx.InsertSettlement(ctx, again) })
	if !errors.Is(err, &errs.Error{Kind: errs.AlreadyExists, Reason: payment.ReasonSettlementExists}) {
		t.Fatalf("second settlement of a date: %v", err)
	}
	// What collided decides the reason: here the request id, on another date.
	reused := st
	reused.ID, reused.Date = payment.NewID(), payment.DateOf(t0.AddDate(0, 0, -1))
	err = s.Transact(ctx, func(tx payment.Tx) error { return tx.InsertSettlement(ctx, reused) })
	if !errors.Is(err, &errs.Error{Kind: errs.AlreadyExists, Reason: payment.ReasonSettlementRequestUsed}) {
		t.Fatalf("second settlement with a request id: %v", err)
	}
	err = s.Transact(ctx, func(tx payment.Tx) error {
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
