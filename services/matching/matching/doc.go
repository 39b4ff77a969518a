// Package matching is the matching service's domain: drivers and their owner-enforced
// availability, live locations held in an in-memory spatial index (Index, on
// github.com/paulmach/orb's quadtree) and persisted in batches, the nearby search over
// that index, and the Store interface the service needs. It imports no gRPC, no pgx and
// no generated code.
//
// # Drivers
//
// A driver's Status moves only along the transitions of Status.CanBecome: drivers go
// online and offline themselves (SetDriverAvailability); offers and rides (OFFERED,
// ON_TRIP) arrive with matches. Errors are kit/errs errors; matching declares only its
// reasons (reasons.go). Event types are declared in events.go.
//
// # Locations
//
// A location fix goes to the Index at once, where searches see it, and is written to
// PostgreSQL by the flusher in batches (Service.Run): a restarted or second replica
// rebuilds its Index from the stored positions. A fix older than
// IndexOptions.StaleAfter (60 seconds by default) is never searched. Matches and offers
// are not implemented yet.
package matching
