// Package payment is the payment service's domain: payment methods kept as processor tokens,
// payments with their operations (authorize, capture, void, refund), reconciliation of
// operations whose outcome is unknown, idempotency keys, and the daily settlement.
//
// The package imports no gRPC, no pgx and no generated code. It talks to the card processor
// through the Processor interface (package simulator is the built-in adapter) and to its
// database through the Store interface (package paymentpg).
//
// # Idempotency
//
// Every call that moves money carries an idempotency key. The key's row is inserted first, in
// its own committed transaction, as in flight with a hash of the request; a concurrent or later
// call with the same key finds it: a different hash is rejected (ErrRequestIDReused), a
// completed key replays the stored first response byte for byte, and a key still in flight
// answers ABORTED unless its lease ran out, in which case the caller takes it over and first
// asks the processor (Processor.Lookup) what the crashed attempt did. Only then is the
// processor called, and one transaction records the outcome, the state change, its events and
// the key's response. Money is never moved twice for one key.
package payment
