// Package farepg is the fare service's PostgreSQL storage. Its tables live in the
// "fare" schema, which no other service reads. Writes run through kit/txn (one
// transaction helper, events through the outbox) and claim their idempotency keys with
// idempotencypg; database errors become kit/errs errors once, through kit/pgxutil.
package farepg

import (
	"embed"

	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the fare schema's migrations, applied in name order at start: the
// service's own (0001–0099), the outbox's tables (0100 and up), which the service's
// events are written to, the consumers' cursors and parked events (0200 and up), for
// the trip and matching events fare consumes, and the idempotency keys' table (0300 and
// up).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations,
	consumer.Migrations, idempotencypg.Migrations)
