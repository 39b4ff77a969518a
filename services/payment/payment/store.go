package payment

import (
	"context"
	"errors"
	"time"
)

// ErrKeyLost is returned by Tx.CompleteKey when the idempotency key is no longer held by the
// attempt's lock (another attempt took it over after the lease); the transaction must roll back.
var ErrKeyLost = errKeyLost

// Store is the database the service needs; package paymentpg implements it. Reads return
// ErrNotFound for missing rows.
type Store interface {
	Reader
	// InTx runs fn in one transaction, committed when fn returns nil and rolled back otherwise.
	InTx(ctx context.Context, fn func(tx Tx) error) error

	// InsertKey inserts k, in flight, in its own transaction, unless the key (k.Method, k.Key)
	// exists and was created after expiredBefore (an older one is replaced). It returns nil when
	// k was inserted, otherwise the existing key.
	InsertKey(ctx context.Context, k Key, expiredBefore time.Time) (*Key, error)
	// TakeOverKey moves an in-flight key held by oldLock to newLock, locked at now. It returns
	// false when another attempt changed the key first.
	TakeOverKey(ctx context.Context, method, key, oldLock, newLock string, now time.Time) (bool, error)
	// DeleteKey deletes an in-flight key held by lockID: the call recorded nothing.
	DeleteKey(ctx context.Context, method, key, lockID string) error
	// ExpireKeyLease lets the next attempt take over an in-flight key held by lockID at once,
	// keeping its resource and operation ids.
	ExpireKeyLease(ctx context.Context, method, key, lockID string) error
	// ResolveKeyResponse replaces the pending response of a completed key by response.
	ResolveKeyResponse(ctx context.Context, method, key string, response []byte) error
	// DeleteExpiredKeys deletes up to limit keys created before before.
	DeleteExpiredKeys(ctx context.Context, before time.Time, limit int) (int64, error)

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
	// GetKey returns an idempotency key.
	GetKey(ctx context.Context, method, key string) (Key, error)
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
	// amounts beyond the payment's limits.
	UpdatePayment(ctx context.Context, p Payment) error
	// InsertOperation inserts an operation.
	InsertOperation(ctx context.Context, op Operation) error
	// UpdateOperation writes an operation's outcome.
	UpdateOperation(ctx context.Context, op Operation) error
	// DeleteOperation deletes an operation that was never sent to the processor.
	DeleteOperation(ctx context.Context, id string) error
	// Emit writes events to the outbox in this transaction.
	Emit(ctx context.Context, events ...Event) error
	// CompleteKey stores k's response and marks it completed, if k.LockID still holds it;
	// otherwise ErrKeyLost.
	CompleteKey(ctx context.Context, k Key) error
	// DeleteKey deletes an in-flight key held by lockID.
	DeleteKey(ctx context.Context, method, key, lockID string) error

	// InsertSettlement inserts a RUNNING settlement; ErrAlreadyExists when its date has a
	// settlement that is not FAILED, or its request id was used.
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

// Key is an idempotency key: one row per (Method, Key).
type Key struct {
	// Method is the RPC method the key is scoped to; Key is the caller's request id.
	Method, Key string
	// Hash is the hash of the request's parameters.
	Hash []byte
	// Completed is false while the first attempt runs.
	Completed bool
	// LockID identifies the attempt holding an in-flight key; LockedAt starts its lease.
	LockID   string
	LockedAt time.Time
	// CreateTime is when the key was first used; it expires after Options.KeyTTL.
	CreateTime time.Time
	// ResourceID and OperationID are the ids the first attempt chose (payment or method id,
	// operation id), so that a takeover continues with the same ones.
	ResourceID, OperationID string
	// Response is the stored first response.
	Response []byte
	// Pending is true when Response shows an unknown outcome: a retry reconciles and returns
	// the current state instead.
	Pending bool
}

// Cursor is a position in a list ordered by create time and id, newest first.
type Cursor struct {
	// Time and ID are the last row's create time and id.
	Time time.Time
	ID   string
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
