// Package fare is the fare service's domain: versioned rate cards per product, the
// pricing math (load-factor curves for seats and stays, distance, time and surge for
// rides), quotes, ride fares computed from the completed trip record (ride.go: the route
// actually driven, with GPS noise filtered; rides.go: the use cases), the automatic surge
// derived from matching's supply and demand per zone (zonesurge.go), and the Store
// interface the service needs. It imports no gRPC, no pgx and no generated code.
//
// # Money and rounding
//
// Every amount is an int64 in minor units of the rate card's currency; no floating point
// is used anywhere. A multiplier is an integer number of basis points (10000 = 1.0x), and
// applying one rounds half away from zero to a whole minor unit (MulBps). Amounts and
// currencies follow kit/money (one ISO 4217 rule for every service): amounts on a rate
// card are at most money.MaxAmount, which keeps every intermediate product of the
// pricing math inside int64.
//
// Errors are kit/errs errors; fare declares only its reasons (reasons.go). Event types
// are declared in events.go.
package fare
