-- The notification schema: the copy of customers' contacts and preferences (from the
-- account service's events) and the durable queue of messages.

-- One row per account the account service told us about; erased accounts keep only
-- their id, version and deleted = true, so that an older event cannot bring them back.
CREATE TABLE contacts (
    customer_id    text    PRIMARY KEY,
    email          text    NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    phone          text    NOT NULL DEFAULT '',
    phone_verified boolean NOT NULL DEFAULT false,
    locale         text    NOT NULL DEFAULT '',
    name           text    NOT NULL DEFAULT '',
    -- Category → {"channels": [...], "opted_out": bool}.
    preferences    jsonb   NOT NULL DEFAULT '{}',
    version        bigint  NOT NULL,
    deleted        boolean NOT NULL DEFAULT false
);

-- The queue: one row per (event, recipient, channel), written in the transaction of the
-- consumer that applied the event, so each is queued exactly once.
CREATE TABLE messages (
    id              uuid        PRIMARY KEY,
    event_id        text        NOT NULL,
    recipient       text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'sms')),
    event_type      text        NOT NULL,
    topic           text        NOT NULL DEFAULT '',
    customer_id     text        NOT NULL DEFAULT '',
    address         text        NOT NULL,
    locale          text        NOT NULL,
    subject         text        NOT NULL DEFAULT '',
    body_text       text        NOT NULL,
    body_html       text        NOT NULL DEFAULT '',
    status          text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'parked', 'discarded', 'skipped')),
    attempts        int         NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- The claim of the worker sending it, and until when it holds.
    claim           uuid,
    lease_until     timestamptz,
    sent_at         timestamptz,
    expires_at      timestamptz,
    CONSTRAINT messages_once UNIQUE (event_id, recipient, channel)
);

-- The workers' scan: messages due or whose lease ran out.
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX messages_leased ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX messages_customer ON messages (customer_id, created_at DESC, id DESC);
CREATE INDEX messages_created ON messages (created_at DESC, id DESC);
CREATE INDEX messages_topic ON messages (topic) WHERE status = 'pending';
