// Package trippg is the trip service's PostgreSQL storage. Its tables live in the
// "trip" schema, which no other service reads.
package trippg

import (
	"embed"

	"github.com/waybill/waybill/kit/pgxutil"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the trip schema's migrations, applied in name order at start.
var Migrations = pgxutil.Dir(migrationFiles, "migrations")
