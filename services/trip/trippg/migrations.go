// Package trippg is the trip service's PostgreSQL storage. Its tables live in the
// "trip" schema, which no other service reads: trips, their recorded routes and the
// calls to matching their changes owe, next to the kit's tables (the outbox of trip's
// events, the cursors and dead letters of its consumers, and the idempotency keys of its
// mutations), which only kit functions read and write. Transactions go through kit/txn,
// idempotency through kit/idempotency/idempotencypg, database errors through
// kit/pgxutil.
package trippg

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

// Migrations holds the trip schema's migrations, applied in name order at start: trip's
// own (0001–0099), the outbox's (0100–0199), the consumer's (0200–0299) and the
// idempotency keys' (0300–0399) and the account gate's copy of suspensions (0400–0499).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"),
	outbox.Migrations, consumer.Migrations, idempotencypg.Migrations, accountgate.Migrations)
