// Package pgxutil holds the pgx plumbing every Waybill service shares: a connection pool
// confined to the service's schema with a statement timeout as a backstop, schema
// migrations that are safe to run from every replica at once, a transaction closure that
// retries serialization failures, and the one translation of PostgreSQL errors into
// sentinel errors.
package pgxutil

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultStatementTimeout is the statement timeout of a pool whose PoolConfig leaves it
// zero: long enough for any query a request should make, short enough that a runaway one
// does not hold locks and connections forever.
const DefaultStatementTimeout = 30 * time.Second

// PoolConfig configures NewPool and Connect. The zero value is a pool with pgx's default
// size, the database's default search_path and DefaultStatementTimeout.
type PoolConfig struct {
	// Schema, when set, is the only schema on every connection's search_path, so that
	// unqualified names resolve to the service's own tables.
	Schema string
	// MaxConns is the pool's size; 0 keeps pgx's default (the larger of 4 and the
	// number of CPUs) or the URL's pool_max_conns.
	MaxConns int32
	// StatementTimeout aborts any statement running longer: 0 means
	// DefaultStatementTimeout, a negative value means no timeout.
	StatementTimeout time.Duration
	// ApplicationName shows in pg_stat_activity and in the server's logs.
	ApplicationName string
}

// NewPool returns a pool for the database at url configured by cfg. It does no I/O:
// connections are made on first use, so a service can start before its database.
func NewPool(url string, cfg PoolConfig) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	params := pc.ConnConfig.RuntimeParams
	if cfg.Schema != "" {
		params["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	timeout := cfg.StatementTimeout
	if timeout == 0 {
		timeout = DefaultStatementTimeout
	}
	params["statement_timeout"] = strconv.FormatInt(max(timeout.Milliseconds(), 0), 10)
	if cfg.ApplicationName != "" {
		params["application_name"] = cfg.ApplicationName
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return pool, nil
}

// Connect is NewPool followed by a ping, for callers that need the database now: it
// returns an error, and no pool, when the database cannot be reached.
func Connect(ctx context.Context, url string, cfg PoolConfig) (*pgxpool.Pool, error) {
	pool, err := NewPool(url, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}
