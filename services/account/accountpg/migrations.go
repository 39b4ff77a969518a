// Package accountpg is the account service's PostgreSQL storage. Its tables live in the
// "account" schema, which no other service reads. Writes run through kit/txn (one
// transaction helper, events through the outbox) and claim their idempotency keys with
// idempotencypg; database errors become kit/errs errors once, through kit/pgxutil.
package accountpg

import (
	"embed"

	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the account schema's migrations, applied in name order at start: the
// service's own (0001–0099), the outbox's tables (0100 and up), which the service's
// events are written to, and the idempotency keys' table (0300 and up).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations, idempotencypg.Migrations)
