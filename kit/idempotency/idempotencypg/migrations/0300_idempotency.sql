-- Idempotency keys (package idempotency): the first result of each retriable mutation,
-- per method, caller and request id, kept 24 hours. Written only through kit/idempotency.
--
-- A key claimed in the mutation's own transaction is inserted completed, with its result,
-- in that transaction: a rolled-back change leaves no key. A key claimed with a lease
-- (calls with effects outside the database) is inserted in flight in a statement of its
-- own, and completed in the transaction that records the outcome.
--
-- The kit is the table's only writer and checks what it writes (a non-empty method and
-- subject, a request id of 1 to 128 characters, a result exactly when completed, a lock
-- while in flight); the table has no CHECK constraints, because on the hold path of a
-- booking each costs more than the rest of the row's insert.
CREATE TABLE idempotency_keys (
    -- The key's scope: the RPC method and the caller's subject, so two callers' equal
    -- request ids never meet.
    method         text NOT NULL,
    subject        text NOT NULL,
    request_id     text NOT NULL,
    -- A digest of the request's parameters: the same key with other parameters is refused.
    request_hash   bytea NOT NULL,
    -- False while a leased key's first attempt runs; keys claimed in the mutation's
    -- transaction are inserted completed.
    completed      boolean NOT NULL,
    -- Leases only: the attempt holding an in-flight key, and when its lease started.
    lock_id        uuid,
    locked_at      timestamptz,
    -- Leases only: what the first attempt chose (ids), for an attempt that takes over.
    memo           bytea,
    -- The first result, encoded by the domain that owns it, replayed for retries.
    result         bytea,
    -- The result shows an outcome not known yet: a retry may resolve it.
    result_pending boolean NOT NULL DEFAULT false,
    create_time    timestamptz NOT NULL,
    complete_time  timestamptz,
    PRIMARY KEY (method, subject, request_id)
);
-- Prune's queue: keys by age.
CREATE INDEX idempotency_keys_create_time_idx ON idempotency_keys (create_time);

-- Raised by a completion that found the key completed by a concurrent call: a
-- transaction that claimed a key before another call's commit became visible to it. The
-- transaction is aborted, so its change cannot commit without its key, and the
-- serialization_failure makes the transaction helpers run it again, which replays.
CREATE FUNCTION idempotency_keys_raced() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'idempotency key completed by a concurrent call'
        USING ERRCODE = 'serialization_failure',
              HINT = 'Run the transaction again: it finds the key completed and replays its result.';
END $$;
