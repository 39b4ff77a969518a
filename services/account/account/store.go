package account

import (
	"context"

	"github.com/waybill/waybill/kit/idempotency"
)

// Store is the storage the account service needs. Implementations return kit/errs errors
// (NotFound, AlreadyExists — ErrAccountExists for a taken id —, Aborted for a lost race,
// …), or whatever a ChangeFunc returned.
//
// The writes are retriable mutations: each claims its idempotency key (kit/idempotency;
// a key with an empty RequestID claims nothing) in the transaction of the change, after
// locking what it changes, so a retry that arrives while the first call runs waits for
// it, then answers with the first call's Outcome without changing anything. The key's
// Hash holds the call's parameters: the same request id with others fails with
// INVALID_ARGUMENT.
type Store interface {
	// CreateAccount inserts a with its events, unless key was completed before (it then
	// returns that call's outcome).
	CreateAccount(ctx context.Context, a Account, key idempotency.Key, events []Event) (Outcome, error)
	// Account returns one account; NotFound when unknown.
	Account(ctx context.Context, id string) (Account, error)
	// ListAccounts returns up to limit accounts selected by f after the cursor (nil for
	// the first page), by creation time, then id.
	ListAccounts(ctx context.Context, f Filter, after *Cursor, limit int) ([]Account, error)
	// UpdateAccount locks account id and its codes and, unless key was completed before
	// (it then returns that call's outcome), calls next with them and writes what next
	// returns, with its events, in one transaction. next's error is returned as is.
	UpdateAccount(ctx context.Context, id string, key idempotency.Key, next ChangeFunc) (Outcome, error)
	// Replay returns the outcome stored for key, and false when the key was not
	// completed.
	Replay(ctx context.Context, key idempotency.Key) (Outcome, bool, error)
	// CountAttempt counts one attempt at the current code of account id's contact k, in a
	// transaction of its own, and returns the code as counted; NotFound when the contact
	// has no current code.
	CountAttempt(ctx context.Context, id string, k ContactKind) (Code, error)
}

// ChangeFunc computes an account's change from the account and its codes as stored
// (locked).
type ChangeFunc func(cur Account, codes Codes) (Change, error)

// Codes are an account's stored code states by contact kind.
type Codes map[ContactKind]Code

// Change is what a ChangeFunc decided.
type Change struct {
	// Account is the account after the change (the current one when nothing changes).
	Account Account
	// Write is false when the account does not change.
	Write bool
	// Events are emitted with the change.
	Events []Event
	// Codes are code states to store (insert or replace, by account and kind).
	Codes []Code
	// EraseCodes deletes every code state of the account (deletion), before Codes.
	EraseCodes bool
	// Sent is the outcome's Sent.
	Sent *Sent
}
