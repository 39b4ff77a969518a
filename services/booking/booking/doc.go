// Package booking is the booking service's domain: departures and properties (the
// inventory), reservations of seats and room-nights with their state machine, cancellation
// policies, validation, and the use cases that tie them to storage (Store) and pricing
// (Pricer). It imports no gRPC, no pgx and no generated code: the transport converts to and
// from these types, and the storage persists them.
//
// The shared value types are the kit's: errors are kit/errs kinds with booking's reasons
// (errors.go), amounts are kit/money's, callers kit/caller's, page tokens kit/page's, and
// retriable changes carry kit/idempotency keys, which the Store claims in the change's
// transaction.
//
// Capacity is never checked here by reading counts and then writing: Store.Hold must add
// to the counters in the database under the condition that capacity is not exceeded, and
// report ErrInsufficientAvailability when it is.
package booking
