// Package booking is the booking service's domain: departures and properties (the
// inventory), reservations of seats and room-nights with their state machine, cancellation
// policies, validation, and the use cases that tie them to storage (Store) and pricing
// (Pricer). It imports no gRPC, no pgx and no generated code: the transport converts to and
// from these types, and the storage persists them.
//
// Capacity is never checked here by reading counts and then writing: Store.Hold must add
// to the counters in the database under the condition that capacity is not exceeded, and
// report ErrInsufficientAvailability when it is.
package booking
