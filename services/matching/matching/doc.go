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
// IndexOptions.StaleAfter (60 seconds by default) is never searched.
//
// The Index also holds each tracked driver's stored record (details.go), given with
// every change it learns of (this process's commits, Service.Sync for other replicas'),
// so SearchNearby answers from memory without reading PostgreSQL. Entries and tree
// spots live in slabs and a driver's strings in one packed string, so that 100,000
// drivers cost the garbage collector about 300,000 objects to mark, not 700,000.
//
// # Matches and offers
//
// A match (matches.go) finds a driver for a trip in attempts; the dispatcher
// (dispatch.go) makes each attempt's offers, expires offers and fails exhausted matches,
// driven by each match's due time in storage (a durable timer swept with SKIP LOCKED),
// so a restarted or second replica resumes the work. Drivers answer offers (offers.go)
// and are released after their ride (release.go). Every change runs in one transaction
// holding the match's row lock and moves drivers with conditional updates; storage's
// unique indexes refuse a second pending offer or a second unreleased assignment of a
// driver whatever this package decides. WatchOffers (watch.go) streams a driver's offers.
//
// # Zones
//
// Every few seconds CountZones (zone.go) counts each zone's (S2 cell of level 12)
// available drivers and open requests and emits matching.zone.supply_demand for the
// zones that changed, for fare's surge pricing.
package matching
