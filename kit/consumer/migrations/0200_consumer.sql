-- kit/consumer: where a consuming service keeps its position in each source's event log,
-- and its dead-letter queue.

-- One row per (consumer, source): the last event applied. Advanced in the same
-- transaction as the handler's writes, so an event's effect happens exactly once.
CREATE TABLE consumer_cursors (
    consumer   text        NOT NULL,
    source     text        NOT NULL,
    -- The sequence of the last event applied (or parked); events at or below it are
    -- skipped if they arrive again.
    seq        bigint      NOT NULL DEFAULT 0,
    -- The source's opaque cursor to resume from; empty starts at the beginning of the
    -- source's retained log.
    cursor     text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source)
);

-- Events whose handler kept failing, and the later events of the same key parked behind
-- them (error empty) so that each key's events are applied in order.
CREATE TABLE parked_events (
    id            bigserial   PRIMARY KEY,
    consumer      text        NOT NULL,
    source        text        NOT NULL,
    seq           bigint      NOT NULL,
    event_id      text        NOT NULL,
    type          text        NOT NULL,
    key           text        NOT NULL,
    payload_type  text,
    payload       bytea,
    trace_context jsonb,
    occurred_at   timestamptz,
    error         text        NOT NULL DEFAULT '',
    attempts      int         NOT NULL DEFAULT 0,
    parked_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX parked_events_consumer_source_key ON parked_events (consumer, source, key, seq);
