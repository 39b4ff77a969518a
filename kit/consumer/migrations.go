package consumer

import (
	"embed"
	"io/fs"

	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the consumer tables (consumer_cursors and parked_events) as *.sql files
// named 0200_consumer.sql and up. A consuming service applies them to its own schema,
// together with its own migrations, before it calls Run or serves the admin service.
var Migrations fs.FS = pgxutil.Dir(migrationFiles, "migrations")
