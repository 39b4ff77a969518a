// Package payment is the payment service's domain: payment methods kept as processor tokens,
// payments with their operations (authorize, capture, void, refund), reconciliation of
// operations whose outcome is unknown, and the daily settlement. Its use cases take the
// caller (kit/caller) and decide what it may see and do; its errors are kit/errs kinds with
// the reasons in errors.go.
//
// The package imports no gRPC, no pgx and no generated code. It talks to the card processor
// through the Processor interface (package simulator is the built-in adapter) and to its
// database through the Store interface (package paymentpg, on kit/txn and kit/idempotency).
//
// # Idempotency
//
// Every call that moves money carries a request id, claimed with kit/idempotency's lease
// before the processor is called: in a statement of its own, in flight, with a keyed hash
// of the request and the ids the attempt will use (its memo). A concurrent or later call
// with the same key finds it: a different hash is INVALID_ARGUMENT (REQUEST_ID_REUSED); a
// completed key replays the first call's result, which the domain stores as JSON of its own
// types (the OperationResult or PaymentMethod, or the *errs.Error the call ended with); a
// key still in flight answers ABORTED (REQUEST_IN_PROGRESS) unless its lease ran out, in
// which case the caller takes it over and first asks the processor (Processor.Lookup) what
// the crashed attempt did. Only then is the processor called, and one transaction records
// the outcome, the state change, its events and the key's result. Money is never moved
// twice for one key.
package payment
