// Package billing is the billing service's domain: bills whose items are reservations
// owned by other services, their state machine and validation, the read model of the
// items' summaries, customer balances and standing, and the operator panel's query with
// its batched fan-out to the providers. It imports no gRPC, pgx or generated code: storage
// and providers are reached through the Store and Providers interfaces.
package billing
