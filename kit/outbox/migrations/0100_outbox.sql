-- The transactional outbox and the sequenced event log (package outbox).

-- Events written by business transactions, waiting for the sequencer. Rows live here for
-- milliseconds; the sequencer deletes them as it moves them to event_log.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL DEFAULT gen_random_uuid(),
    type          text NOT NULL,
    key           text NOT NULL,
    payload_type  text,
    payload       bytea,
    trace_context jsonb,
    occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (
    -- A queue table: vacuum it early so the sequencer's index scan skips few dead rows.
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000
);

-- The sequenced log, append-only: seq is 1, 2, 3, … in commit order without gaps,
-- assigned only by the sequencer; retention deletes a prefix.
CREATE TABLE event_log (
    seq           bigint PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    type          text NOT NULL,
    key           text NOT NULL,
    payload_type  text,
    payload       bytea,
    trace_context jsonb,
    occurred_at   timestamptz NOT NULL,
    sequenced_at  timestamptz NOT NULL DEFAULT now()
);

-- One row: the highest assigned seq, and the retention floor (every seq up to
-- pruned_through has been deleted).
CREATE TABLE event_log_head (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq       bigint NOT NULL DEFAULT 0,
    pruned_through bigint NOT NULL DEFAULT 0,
    CHECK (pruned_through <= last_seq)
);
INSERT INTO event_log_head DEFAULT VALUES;
