// Package analyticspg is the analytics service's PostgreSQL storage: the rollup tables
// the consumers' handlers write (in the transaction that advances their cursor), the
// queries that add them up, and the alerts. Its tables live in the service's schema
// ("analytics", or a fresh one for a rebuild); no other service reads them. Database
// errors become kit/errs errors once, through kit/pgxutil.
package analyticspg

import (
	"embed"

	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the analytics schema's migrations, applied in name order at start:
// the service's own (0001–0099), the outbox's tables (0100 and up) for its alert events,
// and the consumer's cursors and parked events (0200 and up). They name no schema, so a
// rebuild can apply them to a fresh one.
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations, consumer.Migrations)
