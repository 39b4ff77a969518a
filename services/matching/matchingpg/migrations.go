// Package matchingpg is the matching service's PostgreSQL storage. Its tables live in the
// "matching" schema, which no other service reads.
package matchingpg

import (
	"embed"

	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the matching schema's migrations, applied in name order at start.
var Migrations = pgxutil.Dir(migrationFiles, "migrations")
