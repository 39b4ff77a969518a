// Package billing is the billing service's domain: bills whose items are reservations
// owned by other services, their state machine and validation, the read model of the
// items' summaries, customer balances and standing, the operator panel's query with its
// batched fan-out to the providers, and the pay saga (authorize, confirm the items with
// their owners, capture; compensated on failure) with its Runner, which stores the saga's
// progress after every step and resumes it in any billing process after a crash. It
// imports no gRPC, pgx or generated code: storage, providers and the payment service are
// reached through the Store, SagaStore, Providers, Reservations and Payments interfaces.
package billing
