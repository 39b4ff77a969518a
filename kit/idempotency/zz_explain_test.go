package idempotency_test

import (
	"testing"
)

func TestServerCost(t *testing.T) {
	pool := newFixture(t).pool
	ctx := t.Context()
	_, err := pool.Exec(ctx, `CREATE TABLE plainkeys (method text, subject text, request_id text, request_hash bytea, state text, result bytea, create_time timestamptz, PRIMARY KEY (method, subject, request_id));
CREATE TABLE plainkeys2 (LIKE plainkeys INCLUDING ALL); CREATE INDEX ON plainkeys2 (create_time);
CREATE TABLE copykeys (LIKE idempotency_keys INCLUDING ALL);
CREATE TABLE nocheck (LIKE idempotency_keys INCLUDING INDEXES INCLUDING DEFAULTS);`)
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]string{
		"item insert":            `INSERT INTO item (id) VALUES ('x' || i)`,
		"lock only":              `PERFORM pg_try_advisory_xact_lock(hashtextextended(concat_ws(E'\x1f', 'idempotency_keys', current_schema(), 'M', 'S', 'r' || i), 0))`,
		"look only":              `PERFORM 1 FROM idempotency_keys k WHERE k.method = 'M' AND k.subject = 'S' AND k.request_id = 'r' || i AND k.create_time > now() - interval '1 day'`,
		"plain insert pk":        `INSERT INTO plainkeys VALUES ('M', 'S', 'r' || i, '\x00', 'completed', '\x00', now())`,
		"plain insert pk+ts":     `INSERT INTO plainkeys2 VALUES ('M', 'S', 'r' || i, '\x00', 'completed', '\x00', now())`,
		"plain insert real":      `INSERT INTO idempotency_keys (method, subject, request_id, request_hash, state, result, create_time) VALUES ('M', 'S', 'p' || i, '\x00', 'completed', '\x00', now())`,
		"copy (LIKE ALL)":        `INSERT INTO copykeys (method, subject, request_id, request_hash, state, result, create_time) VALUES ('M', 'S', 'p' || i, '\x00', 'completed', '\x00', now())`,
		"copy no checks":         `INSERT INTO nocheck (method, subject, request_id, request_hash, state, result, create_time) VALUES ('M', 'S', 'p' || i, '\x00', 'completed', '\x00', now())`,
		"on conflict real":       `INSERT INTO idempotency_keys AS k (method, subject, request_id, request_hash, state, result, create_time) VALUES ('M', 'S', 'c' || i, '\x00', 'completed', '\x00', now()) ON CONFLICT (method, subject, request_id) DO UPDATE SET state = 'completed' WHERE k.create_time <= now() - interval '1 day'`,
	}
	for name, stmt := range variants {
		var ms float64
		_, err := pool.Exec(ctx, `
CREATE OR REPLACE FUNCTION pg_temp.bench() RETURNS float8 LANGUAGE plpgsql AS $f$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  FOR i IN 1..5000 LOOP `+stmt+`; END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $f$`)
		if err != nil {
			t.Fatal(name, err)
		}
		if err := pool.QueryRow(ctx, `SELECT pg_temp.bench()`).Scan(&ms); err != nil {
			t.Fatal(name, err)
		}
		t.Logf("%-22s %6.2f µs/statement", name, ms*1000/5000)
	}
}
