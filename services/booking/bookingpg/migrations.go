// Package bookingpg is the booking service's PostgreSQL storage. Its tables live in the
// "booking" schema, which no other service reads. Capacity is enforced by the database:
// holds add to counter rows only where `held + sold + n <= capacity`, and CHECK
// constraints refuse any row that would be overbooked.
package bookingpg

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

// Migrations holds the booking schema's migrations, applied in name order at start: the
// service's own (0001–0099), the outbox's tables (0100 and up), the idempotency keys'
// (0300 and up), and the consumer's tables (0200) with the account gate's read model of
// suspended customers (0400, kit/accountgate).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations, idempotencypg.Migrations,
	consumer.Migrations, accountgate.Migrations)
