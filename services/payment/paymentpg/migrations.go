// Package paymentpg is the payment service's PostgreSQL storage. Its tables live in the
// "payment" schema, which no other service reads. It implements payment.Store: the SQL of
// each method sits next to it, transactions run on kit/txn, idempotency keys are
// idempotencypg's, and database errors become the domain's through pgxutil (the
// constraints table in errors.go names what the schema's own constraints mean).
package paymentpg

import (
	"embed"

	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the payment schema's migrations, applied in name order at start: the
// service's own (0001–0099), the outbox's (0100–) and the idempotency keys' (0300–).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations, idempotencypg.Migrations)
