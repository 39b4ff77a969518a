package consumer

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the consumer tables (consumer_cursors and parked_events) as *.sql files
// named 0200_consumer.sql and up. A consuming service applies them to its own schema,
// together with its own migrations, before it calls Run or serves the admin service.
var Migrations fs.FS = mustSub(migrationFiles, "migrations")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // unreachable: the folder is embedded above
	}
	return sub
}
