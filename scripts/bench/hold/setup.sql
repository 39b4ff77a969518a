-- Scratch copies of booking's hold tables for the pgbench comparison in
-- docs/benchmarks.md (W1, fourth look). Run on a mesh's PostgreSQL after a
-- `waybill bench reserve` run created departures; drop with DROP SCHEMA exp CASCADE.
DROP SCHEMA IF EXISTS exp CASCADE;
CREATE SCHEMA exp;
CREATE TABLE exp.departure (LIKE booking.departure INCLUDING ALL);
INSERT INTO exp.departure SELECT * FROM booking.departure;
CREATE TABLE exp.fare_class (LIKE booking.fare_class INCLUDING ALL);
INSERT INTO exp.fare_class SELECT * FROM booking.fare_class;
CREATE TABLE exp.reservation (LIKE booking.reservation INCLUDING ALL);
ALTER TABLE exp.reservation ADD FOREIGN KEY (departure_id) REFERENCES exp.departure (id);
CREATE TABLE exp.outbox (LIKE booking.outbox INCLUDING ALL);
-- 16 departures still on sale, numbered for the scripts.
CREATE TABLE exp.deps AS
    SELECT row_number() OVER () AS n, d.id, f.name
    FROM exp.departure d JOIN exp.fare_class f ON f.departure_id = d.id
    WHERE d.status = 1 AND d.departure_time > now() + interval '1 day'
    LIMIT 16;
