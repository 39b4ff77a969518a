-- Pay sagas: one row per PayBill attempt, with the saga's state, step and durable progress
-- (registered compensations and the outcomes of every call), written in the same
-- transaction as the bill's status changes and events. A runner leases a saga while it
-- drives it; a saga whose runner died is taken over once its lease ends.

CREATE TABLE pay_sagas (
    id                uuid        PRIMARY KEY,
    bill_id           uuid        NOT NULL REFERENCES bills (id),
    attempt           integer     NOT NULL CHECK (attempt > 0),
    state             text        NOT NULL CHECK (state IN ('running', 'compensating', 'succeeded', 'failed')),
    step              text        NOT NULL,
    payment_method_id text        NOT NULL,
    amount_minor      bigint      NOT NULL CHECK (amount_minor >= 0),
    currency_code     text        NOT NULL,
    payment_id        text        NOT NULL DEFAULT '',
    failure_code      text        NOT NULL DEFAULT '',
    failure_message   text        NOT NULL DEFAULT '',
    failed_item_ids   text[]      NOT NULL DEFAULT '{}',
    -- The progress: compensations registered before their calls, and each call's outcome.
    progress          jsonb       NOT NULL DEFAULT '{}',
    start_time        timestamptz NOT NULL,
    update_time       timestamptz NOT NULL,
    step_time         timestamptz NOT NULL,
    end_time          timestamptz,
    -- When the saga should next be driven (after a transient failure's backoff).
    due_time          timestamptz NOT NULL DEFAULT now(),
    -- The runner driving the saga and until when; NULL when none.
    lease_owner       text,
    lease_until       timestamptz,
    UNIQUE (bill_id, attempt)
);

-- At most one saga per bill is unfinished.
CREATE UNIQUE INDEX pay_sagas_one_active ON pay_sagas (bill_id) WHERE state IN ('running', 'compensating');
CREATE INDEX pay_sagas_due ON pay_sagas (due_time) WHERE state IN ('running', 'compensating');

-- The bill's latest saga.
ALTER TABLE bills ADD COLUMN saga_id uuid REFERENCES pay_sagas (id) DEFERRABLE INITIALLY DEFERRED;

-- Payment events find their bill by payment id.
CREATE INDEX bills_by_payment ON bills (payment_id) WHERE payment_id <> '';
