// Package analytics is the analytics service's domain: the facts it learns from the other
// services' events (reservations, inventory, payments, bills, fares), how a fact changes
// the rollups (Project*), the sums a KPI query reads back and the KPIs computed from them
// at read time (Compute), the alert rules (Evaluate), and the use cases over a Store. It
// imports no gRPC, no pgx and no generated code: sourceevents turns the sources' events
// into facts, analyticspg stores the rollups, analyticsgrpc serves the queries.
package analytics
