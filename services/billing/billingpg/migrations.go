// Package billingpg is the billing service's PostgreSQL storage. Its tables live in the
// "billing" schema, which no other service reads: bills and their items, the read model
// of the providers' reservations and the pay sagas, next to the kit's tables (the outbox
// of billing's events, the cursors and dead letters of billing's consumers, and the
// idempotency keys of its mutations), which only kit functions read and write.
// Transactions go through kit/txn, idempotency through kit/idempotency/idempotencypg.
package billingpg

import (
	"embed"

	"github.com/waybill/waybill/kit/accountgate"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the billing schema's migrations, applied in name order at start:
// billing's own (0001–0099), the outbox's (0100–0199), the consumer's (0200–0299) and
// the idempotency keys' (0300–0399), and the account gate's read model of suspended
// customers (0400, kit/accountgate).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"),
	outbox.Migrations, consumer.Migrations, idempotencypg.Migrations, accountgate.Migrations)
