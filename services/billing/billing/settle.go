package billing

import (
	"context"
	"time"
)

// Settlements is what settling needs from storage: the PAID bill of a payment, changed
// in the transaction of the consumer that received the payment service's event, so that
// the bill's change, its event and the consumer's cursor commit together.
type Settlements interface {
	// MutatePaidBill locks the PAID bill whose payment is paymentID, runs fn on it and
	// persists what fn's Change says, with its event. It reports false, without running
	// fn, when no PAID bill has that payment.
	MutatePaidBill(ctx context.Context, paymentID string, now time.Time, fn func(b *Bill) Change) (bool, error)
}

// SettlePayment applies the payment service's news that every capture of paymentID is
// settled: the PAID bill of that payment becomes SETTLED (EventSettled), through st. It
// reports whether a bill changed; a payment of no PAID bill changes nothing.
func (s *Service) SettlePayment(ctx context.Context, st Settlements, paymentID string) (bool, error) {
	if paymentID == "" {
		return false, nil
	}
	now := s.now()
	return st.MutatePaidBill(ctx, paymentID, now, func(b *Bill) Change { return b.Settle(now) })
}
