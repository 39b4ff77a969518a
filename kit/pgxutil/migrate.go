package pgxutil

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrateLockClass is the first key of the advisory lock that serializes migrations; the
// second is hashtext(schema), so each schema migrates independently.
const migrateLockClass = "pgxutil.Migrate"

// Migration is one file of a schema's migrations.
type Migration struct {
	// Version is the file name without ".sql", as recorded in schema_migrations.
	Version string
	// SQL is the file's content.
	SQL string
}

// Migrations reads the *.sql files at the root of fsys, sorted by name. Names should
// start with a zero-padded number ("0001_init.sql") so that this order is the order they
// were written in. A nil fsys has none.
func Migrations(fsys fs.FS) ([]Migration, error) {
	if fsys == nil {
		return nil, nil
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("no *.sql files at the root of the migrations (for an embedded folder, pass pgxutil.Dir(files, folder))")
	}
	slices.Sort(names)
	ms := make([]Migration, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		ms = append(ms, Migration{Version: strings.TrimSuffix(name, ".sql"), SQL: string(b)})
	}
	return ms, nil
}

// TxBeginner starts transactions; *pgxpool.Pool, *pgxpool.Conn and *pgx.Conn all do.
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Migrate creates schema if it is missing and applies the *.sql files of migrations
// (see Migrations) that its schema_migrations table does not list yet, in name order.
// Each file runs in its own transaction with search_path set to schema and no statement
// timeout (ctx bounds it), and is recorded in the same transaction, so a file is applied
// entirely or not at all; statements that cannot run in a transaction (CREATE INDEX
// CONCURRENTLY) are not supported. An advisory lock keyed on the schema serializes
// concurrent callers, so every replica of a service may call Migrate as it starts.
// Calling it again applies nothing.
func Migrate(ctx context.Context, db TxBeginner, schema string, migrations fs.FS) error {
	if schema == "" {
		return errors.New("migrate: empty schema name")
	}
	ms, err := Migrations(migrations)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()

	var applied []string
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := lockMigrations(ctx, tx, schema); err != nil {
			return err
		}
		var exists bool
		// Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
		// database even when the schema exists.
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists)
		if err != nil {
			return fmt.Errorf("look up schema: %w", err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		_, err = tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+
			" (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
		if err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, "SELECT version FROM "+table)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}

	for _, m := range ms {
		if slices.Contains(applied, m.Version) {
			continue
		}
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if err := lockMigrations(ctx, tx, schema); err != nil {
				return err
			}
			// Another replica may have applied it while this one waited for the lock.
			var done bool
			err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE version = $1)", m.Version).Scan(&done)
			if err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+ident+"; SET LOCAL statement_timeout = 0"); err != nil {
				return err
			}
			// Without arguments pgx uses the simple protocol, which runs every
			// statement of the file.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "INSERT INTO "+table+" (version) VALUES ($1)", m.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %s.sql: %w", schema, m.Version, err)
		}
	}
	return nil
}

// lockMigrations takes the schema's migration lock until the transaction ends.
func lockMigrations(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", migrateLockClass, schema)
	if err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}
