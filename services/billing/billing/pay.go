package billing

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
)

// PaymentStatus is a payment's main status in the payment service. Its values equal
// waybill.payment.v1.PaymentStatus.
type PaymentStatus int32

// The payment statuses the saga acts on.
const (
	PaymentUnspecified           PaymentStatus = 0
	PaymentAuthorized            PaymentStatus = 1
	PaymentPartiallyCaptured     PaymentStatus = 2
	PaymentCaptured              PaymentStatus = 3
	PaymentPartiallyRefunded     PaymentStatus = 4
	PaymentRefunded              PaymentStatus = 5
	PaymentVoided                PaymentStatus = 6
	PaymentFailed                PaymentStatus = 7
	PaymentPendingReconciliation PaymentStatus = 8
)

// Payment is what the saga needs to know of a payment in the payment service.
type Payment struct {
	// ID is the payment's id.
	ID string
	// Status is its main status.
	Status PaymentStatus
	// DeclineCode and FailureMessage say why an authorization failed.
	DeclineCode, FailureMessage string
	// Captured is the amount captured so far.
	Captured money.Money
	// SettleTime is when every capture of the payment was settled; zero before.
	SettleTime time.Time
}

// PaymentMethod is what PayBill checks of the method to charge.
type PaymentMethod struct {
	// ID and CustomerID identify the method and its owner.
	ID, CustomerID string
	// Active is false for a disabled method.
	Active bool
	// ExpiryMonth and ExpiryYear are the card's expiry.
	ExpiryMonth, ExpiryYear int
}

// Usable reports whether the method may be charged at now: active and not expired.
func (m PaymentMethod) Usable(now time.Time) bool {
	if !m.Active {
		return false
	}
	if m.ExpiryYear == 0 {
		return true
	}
	y, mo, _ := now.Date()
	return m.ExpiryYear > y || (m.ExpiryYear == y && m.ExpiryMonth >= int(mo))
}

// Payments is what the saga needs from the payment service. Errors are kit/errs errors:
// UNAVAILABLE for anything that may succeed when retried with the same request id,
// NOT_FOUND and FAILED_PRECONDITION with the payment service's reason, and any other
// error for a refusal that will not change.
type Payments interface {
	// PaymentMethod returns one payment method.
	PaymentMethod(ctx context.Context, id string) (PaymentMethod, error)
	// Authorize holds amount on the method; a decline is a FAILED payment, not an error.
	Authorize(ctx context.Context, methodID string, amount money.Money, reference, requestID string) (Payment, error)
	// Capture captures amount of the payment.
	Capture(ctx context.Context, paymentID string, amount money.Money, requestID string) (Payment, error)
	// Void releases the uncaptured authorization.
	Void(ctx context.Context, paymentID, reason, requestID string) (Payment, error)
	// Refund refunds everything captured and not yet refunded.
	Refund(ctx context.Context, paymentID, reason, requestID string) (Payment, error)
	// Payment returns the payment's current state.
	Payment(ctx context.Context, id string) (Payment, error)
	// Reconcile asks the processor about a pending operation and returns the payment.
	Reconcile(ctx context.Context, id string) (Payment, error)
}

// Reservations is what the saga needs from the reservation providers. Errors are as for
// Payments; each reservation's outcome comes back in the order of ids.
type Reservations interface {
	// Confirm confirms ids at provider in one ConfirmReservations call.
	Confirm(ctx context.Context, provider string, ids []string, requestID, reference string) ([]ActionOutcome, error)
	// Cancel cancels ids at provider in one CancelReservations call.
	Cancel(ctx context.Context, provider string, ids []string, requestID, reason string, waiveFees bool) ([]ActionOutcome, error)
}

// SagaStore is what the pay saga needs from storage.
type SagaStore interface {
	// StartPayment claims key, locks the bill (with its latest saga), runs fn, and
	// inserts the saga fn returns and persists the bill's change, with its event, in one
	// transaction. With a recorded result for key, fn does not run and the bill's current
	// state is returned.
	StartPayment(ctx context.Context, billID string, key idempotency.Key, now time.Time, fn func(b *Bill) (Saga, Change, error)) (Bill, error)
	// ClaimSagas leases up to limit unfinished sagas that are due and not leased by a
	// live runner, to owner for lease.
	ClaimSagas(ctx context.Context, owner string, lease time.Duration, limit int) ([]Saga, error)
	// SaveSaga stores s if owner still holds its lease (ErrLeaseLost otherwise): with
	// release false it extends the lease; with release true it gives the lease up and makes
	// the saga due again after retryAfter. In the same transaction it locks the bill and
	// persists what fn changes on it, with its event.
	SaveSaga(ctx context.Context, s Saga, owner string, lease time.Duration, release bool, retryAfter time.Duration, now time.Time, fn func(b *Bill) Change) error
}

// ErrLeaseLost means another runner took over the saga: this runner must stop driving it.
// It is the saga runner's signal, never a caller's error.
var ErrLeaseLost = errors.New("saga lease lost")

// ReasonPaymentMethodNotFound and ReasonPaymentMethodNotUsable explain PayBill's refusals.
const (
	ReasonPaymentMethodNotFound  = "PAYMENT_METHOD_NOT_FOUND"
	ReasonPaymentMethodNotUsable = "PAYMENT_METHOD_NOT_USABLE"
)

// PayBill starts the pay saga on a FINALIZED or FAILED bill and returns the bill with the
// saga durably started; the saga runner then drives it. A retry with the same request id
// returns the bill with the same saga and starts nothing.
func (s *Service) PayBill(ctx context.Context, c caller.Caller, billID, methodID string, expectedVersion int64, requestID string) (Bill, error) {
	if err := ids.Check("bill_id", billID); err != nil {
		return Bill{}, err
	}
	if err := ids.Check("payment_method_id", methodID); err != nil {
		return Bill{}, err
	}
	if err := validateVersion(expectedVersion); err != nil {
		return Bill{}, err
	}
	if requestID == "" {
		return Bill{}, errs.Invalid("request_id", "is required: paying moves money, so a retry must be recognized")
	}
	if err := requireCaller(c); err != nil {
		return Bill{}, err
	}
	key, err := requestKey("PayBill", c, requestID, billID, methodID, strconv.FormatInt(expectedVersion, 10))
	if err != nil {
		return Bill{}, err
	}
	if rec, ok, err := s.store.Recorded(ctx, key); err != nil {
		return Bill{}, err
	} else if ok {
		return s.visibleBill(ctx, c, rec.BillID)
	}
	b, err := s.visibleBill(ctx, c, billID)
	if err != nil {
		return Bill{}, err
	}
	// Refuse what cannot be paid before asking the payment service.
	if b.Status != StatusFinalized && b.Status != StatusFailed {
		return Bill{}, errs.Precondition(ReasonBillNotPayable, "bill %s is %s; only finalized or failed bills can be paid", b.ID, b.Status)
	}
	if err := s.checkCustomer(ctx, b.CustomerID); err != nil {
		return Bill{}, err
	}
	if s.opts.Payments == nil || s.opts.Sagas == nil {
		return Bill{}, errs.Unreachable(ReasonPaymentUnavailable, "payments are not configured in this billing deployment")
	}
	m, err := s.opts.Payments.PaymentMethod(ctx, methodID)
	switch {
	case errors.Is(err, errs.NotFound):
		return Bill{}, errs.Missing(ReasonPaymentMethodNotFound, "payment method %s not found", methodID)
	case err != nil:
		return Bill{}, err
	case m.CustomerID != b.CustomerID:
		return Bill{}, errs.Missing(ReasonPaymentMethodNotFound, "payment method %s not found", methodID)
	case !m.Usable(s.opts.Now()):
		return Bill{}, errs.Precondition(ReasonPaymentMethodNotUsable, "payment method %s is disabled or expired", methodID)
	}
	now := s.now()
	sagaID := NewID()
	out, err := s.opts.Sagas.StartPayment(ctx, billID, key, now, func(b *Bill) (Saga, Change, error) {
		if !c.MayAccess(b.CustomerID) {
			return Saga{}, Change{}, billNotFound(billID)
		}
		return b.StartPayment(b.Saga, sagaID, methodID, expectedVersion, now)
	})
	if err != nil {
		return Bill{}, err
	}
	if s.opts.SagaStarted != nil {
		s.opts.SagaStarted()
	}
	if !c.MayAccess(out.CustomerID) {
		return Bill{}, billNotFound(billID)
	}
	return s.decorate(out), nil
}

// ApplySaga records s as the bill's latest saga: a succeeded saga makes a FINALIZED bill
// PAID, a failed one makes it FAILED; any other visible change of the saga raises the
// bill's version without an event.
func (b *Bill) ApplySaga(s Saga, now time.Time) Change {
	prev := b.Saga
	b.Saga = &s
	touched := prev == nil || prev.State != s.State || prev.Step != s.Step || prev.PaymentID != s.PaymentID ||
		prev.FailureCode != s.FailureCode
	if s.PaymentID != b.PaymentID {
		b.PaymentID = s.PaymentID
		touched = true
	}
	if b.Status == StatusFinalized {
		switch s.State {
		case SagaSucceeded:
			b.Status, b.PaidTime = StatusPaid, now
			return Change{Event: EventPaid}
		case SagaFailed:
			b.Status = StatusFailed
			return Change{Event: EventFailed}
		}
	}
	return Change{Touched: touched}
}
