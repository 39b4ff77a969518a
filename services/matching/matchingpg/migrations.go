// Package matchingpg is the matching service's PostgreSQL storage. Its tables live in the
// "matching" schema, which no other service reads.
package matchingpg

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the matching schema's migrations, applied in name order at start.
var Migrations = mustSub(migrationFiles, "migrations")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // unreachable: the folder is embedded above
	}
	return sub
}
