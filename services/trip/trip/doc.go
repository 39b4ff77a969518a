// Package trip is the trip service's domain: the ride lifecycle (REQUESTED →
// DRIVER_ASSIGNED → STARTED → ENDED, or CANCELLED), the record of what actually happened
// (the route driven, distance, duration), who may see and drive which trip, and the use
// cases over the Store it needs and the ports to the services it calls (billing for the
// rider's standing, fare for the estimate, matching for the driver). It imports no gRPC,
// no pgx and no generated code: trippg stores it, tripgrpc serves it, tripapp wires it.
//
// A ride request is written in two steps so that a failure to start the search leaves no
// half-created trip: the trip is first stored unpublished (it holds the rider's one active
// trip, but nobody sees it), then matching is asked for a driver (CreateMatch, idempotent
// by a request id stored on the trip), and only then is the trip published with its
// trip.trip.requested event. A definite refusal deletes the unpublished trip; a call whose
// outcome is unknown leaves it for a retry with the same request id to resume, or for the
// sweeper (Service.SweepPending) to cancel the match it may have started and delete it.
package trip
