package payment

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// Store is the database the service needs; package paymentpg implements it. Reads of a
// missing row return an error of kind errs.NotFound.
type Store interface {
	Reader
	// Transact runs fn in one transaction (kit/txn underneath): committed, with the events fn
	// emitted, when fn returns nil, rolled back otherwise, and run again from the start
	// when it lost a race with a concurrent one, so fn must have no other effects.
	Transact(ctx context.Context, fn func(tx Tx) error) error

	// AcquireKey claims an idempotency key with a lease (kit/idempotency), in a statement
	// of its own, before the processor is called; memo is what this attempt chose (the
	// ids it will send), returned to an attempt that takes the key over. The lease is a
	// plain value: the methods below take it back to act on the key.
	AcquireKey(ctx context.Context, k idempotency.Key, memo []byte) (idempotency.Lease, error)
	// CompleteKey stores an error as the result of a leased key, in a statement of its
	// own: nothing else was recorded. It is ABORTED, REQUEST_IN_PROGRESS, when another
	// attempt took the key over.
	CompleteKey(ctx context.Context, l idempotency.Lease, result []byte) error
	// AbandonKey gives a leased key up without a result: a fresh key is deleted, a
	// taken-over one keeps its memo and its lease ends at once.
	AbandonKey(ctx context.Context, l idempotency.Lease) error
	// ResolveKey replaces the pending result of a replayed key (Lease.Pending).
	ResolveKey(ctx context.Context, l idempotency.Lease, result []byte) error
	// PruneKeys deletes expired idempotency keys.
	PruneKeys(ctx context.Context) (int64, error)

	// DisableMethod disables an active method at now; a disabled one is returned unchanged.
	DisableMethod(ctx context.Context, id string, now time.Time) (PaymentMethod, error)
	// MethodsWithUndeletedTokens returns disabled methods whose token is not deleted yet.
	MethodsWithUndeletedTokens(ctx context.Context, limit int) ([]PaymentMethod, error)
	// MarkTokenDeleted records that a disabled method's token was deleted at the processor.
	MarkTokenDeleted(ctx context.Context, id string) error

	// PaymentsToReconcile returns payments that are PENDING_RECONCILIATION, or whose busy
	// operation started before staleBefore.
	PaymentsToReconcile(ctx context.Context, staleBefore time.Time, limit int) ([]string, error)
	// ExpiredAuthorizations returns AUTHORIZED or PARTIALLY_CAPTURED payments whose
	// authorization expired at now and that are not busy.
	ExpiredAuthorizations(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Reader reads; both the Store and a Tx implement it.
type Reader interface {
	// GetMethod returns a payment method.
	GetMethod(ctx context.Context, id string) (PaymentMethod, error)
	// ListMethods returns up to limit methods matching f after the cursor, newest first.
	ListMethods(ctx context.Context, f MethodFilter, after *Cursor, limit int) ([]PaymentMethod, error)
	// GetPayment returns a payment, with its timeline when timeline is true.
	GetPayment(ctx context.Context, id string, timeline bool) (Payment, error)
	// ListPayments returns up to limit payments matching f after the cursor, newest first.
	ListPayments(ctx context.Context, f PaymentFilter, after *Cursor, limit int, timeline bool) ([]Payment, error)
	// GetOperation returns an operation.
	GetOperation(ctx context.Context, id string) (Operation, error)
	// GetSettlement returns a settlement with its totals.
	GetSettlement(ctx context.Context, id string) (Settlement, error)
	// GetSettlementByRequestID returns the settlement a RunSettlement request id started.
	GetSettlementByRequestID(ctx context.Context, requestID string) (Settlement, error)
	// ListSettlements returns up to limit settlements matching f after the cursor, latest date
	// first.
	ListSettlements(ctx context.Context, f SettlementFilter, after *SettlementCursor, limit int) ([]Settlement, error)
}

// Tx is one transaction's view of the store.
type Tx interface {
	Reader
	// InsertMethod inserts a payment method.
	InsertMethod(ctx context.Context, m PaymentMethod) error
	// LockPayment reads a payment (without timeline) and locks it until the transaction ends.
	LockPayment(ctx context.Context, id string) (Payment, error)
	// InsertPayment inserts a payment.
	InsertPayment(ctx context.Context, p Payment) error
	// UpdatePayment writes every mutable field of a locked payment. The database rejects
	// amounts beyond the payment's limits (errs.FailedPrecondition).
	UpdatePayment(ctx context.Context, p Payment) error
	// InsertOperation inserts an operation.
	InsertOperation(ctx context.Context, op Operation) error
	// UpdateOperation writes an operation's outcome.
	UpdateOperation(ctx context.Context, op Operation) error
	// DeleteOperation deletes an operation that was never sent to the processor.
	DeleteOperation(ctx context.Context, id string) error
	// Emit queues events for the outbox, written with the transaction's commit.
	Emit(events ...Event) error
	// CompleteKey stores the result of a leased idempotency key in this transaction,
	// marked pending when the outcome is not known yet (a retry then finds it out);
	// ABORTED, REQUEST_IN_PROGRESS, when another attempt took the key over, and the
	// transaction must roll back.
	CompleteKey(ctx context.Context, l idempotency.Lease, result []byte, pending bool) error

	// InsertSettlement inserts a RUNNING settlement. Its errors are errs.AlreadyExists with
	// reason ReasonSettlementExists when the date has a settlement that is not FAILED, and
	// ReasonSettlementRequestUsed when a settlement was started with its request id.
	InsertSettlement(ctx context.Context, st Settlement) error
	// LockSettlement reads a settlement and locks it until the transaction ends.
	LockSettlement(ctx context.Context, id string) (Settlement, error)
	// UpdateSettlement writes a settlement's status, totals and counts.
	UpdateSettlement(ctx context.Context, st Settlement) error
	// ClaimOperations assigns every successful, unsettled capture and refund completed before
	// before to the settlement and returns them.
	ClaimOperations(ctx context.Context, settlementID string, before time.Time) ([]Operation, error)
	// ReleaseOperations unassigns the operations of a failed settlement.
	ReleaseOperations(ctx context.Context, settlementID string) error
	// MarkSettled sets the settle time of each payment with an operation in the settlement whose
	// successful captures are all in completed settlements, bumps the version of every such
	// payment, and returns them.
	MarkSettled(ctx context.Context, settlementID string, now time.Time) ([]Payment, error)
}

// Cursor is a position in a list ordered by create time and id, newest first.
type Cursor struct {
	// Time and ID are the last row's create time and id.
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}
