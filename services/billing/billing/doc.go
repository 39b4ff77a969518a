// Package billing is the billing service's domain: bills whose items are reservations
// owned by other services, their state machine and validation, the read model of the
// items' summaries, customer balances and standing, the operator panel's query with its
// batched fan-out to the providers, the pay saga (authorize, confirm the items with
// their owners, capture; compensated on failure) with its Runner, which stores the saga's
// progress after every step and resumes it in any billing process after a crash, and
// the settling of paid bills. It imports no gRPC, pgx or generated code: storage,
// providers and the payment service are reached through the Store, SagaStore,
// Settlements, Providers, Reservations and Payments interfaces. Its values are the kit's
// (kit/money, kit/caller, kit/page) and its errors kit/errs errors with billing's
// reasons (errors.go).
package billing
