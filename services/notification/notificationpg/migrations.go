// Package notificationpg is the notification service's PostgreSQL storage: the copy of
// customers' contacts and preferences, and the durable message queue that the consumers
// write (in the transaction that advances their cursor) and the workers drain (claims
// with FOR UPDATE SKIP LOCKED and a lease). Its tables live in the "notification" schema;
// no other service reads them. Database errors become kit/errs errors once, through
// kit/pgxutil.
package notificationpg

import (
	"embed"

	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the notification schema's migrations: the service's own (0001–0099),
// the outbox's tables (0100 and up) for its events, and the consumer's cursors and parked
// events (0200 and up).
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations, consumer.Migrations)
