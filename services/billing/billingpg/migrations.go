// Package billingpg is the billing service's PostgreSQL storage. Its tables live in the
// "billing" schema, which no other service reads: bills and their items, the read model
// of the providers' reservations, idempotency keys, the outbox of billing's events and the
// cursors and dead letters of billing's consumers.
package billingpg

import (
	"embed"

	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the billing schema's migrations, applied in name order at start:
// billing's own (0001–0099), the outbox's (0100–0199) and the consumer's (0200–0299).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations, consumer.Migrations)
