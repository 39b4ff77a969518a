-- Payment methods, payments and their operations, idempotency keys and settlements.

-- A customer's card as the processor's token and display data. Card numbers and security
-- codes have no column: they are never stored.
CREATE TABLE payment_method (
    id              uuid PRIMARY KEY,
    customer_id     text NOT NULL CHECK (customer_id <> '' AND length(customer_id) <= 128),
    processor       text NOT NULL,
    processor_token text NOT NULL CHECK (processor_token <> ''),
    brand           text NOT NULL,
    last4           text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    expiry_month    int NOT NULL CHECK (expiry_month BETWEEN 1 AND 12),
    expiry_year     int NOT NULL CHECK (expiry_year BETWEEN 1000 AND 9999),
    status          text NOT NULL CHECK (status IN ('active', 'disabled')),
    -- Whether a disabled method's token was deleted at the processor; retried until true.
    token_deleted   boolean NOT NULL DEFAULT false,
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL,
    disable_time    timestamptz,
    version         bigint NOT NULL CHECK (version > 0),
    CHECK ((status = 'disabled') = (disable_time IS NOT NULL))
);
CREATE INDEX payment_method_customer_idx ON payment_method (customer_id, create_time DESC, id DESC);
CREATE INDEX payment_method_time_idx ON payment_method (create_time DESC, id DESC);
CREATE INDEX payment_method_token_cleanup_idx ON payment_method (id) WHERE status = 'disabled' AND NOT token_deleted;

-- Settlements come before operations, which refer to them.
CREATE TABLE settlement (
    id                  uuid PRIMARY KEY,
    settlement_date     date NOT NULL,
    status              text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    payment_count       int NOT NULL DEFAULT 0 CHECK (payment_count >= 0),
    processor_reference text NOT NULL DEFAULT '',
    failure_message     text NOT NULL DEFAULT '',
    -- The RunSettlement idempotency key: a retry finds the settlement it started.
    request_id          text NOT NULL UNIQUE CHECK (request_id <> ''),
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    complete_time       timestamptz,
    version             bigint NOT NULL CHECK (version > 0)
);
-- Each date has at most one settlement that is not FAILED.
CREATE UNIQUE INDEX settlement_one_per_date ON settlement (settlement_date) WHERE status <> 'failed';
CREATE INDEX settlement_list_idx ON settlement (settlement_date DESC, create_time DESC, id DESC);

CREATE TABLE settlement_total (
    settlement_id  uuid NOT NULL REFERENCES settlement (id),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    captured_minor bigint NOT NULL CHECK (captured_minor >= 0),
    refunded_minor bigint NOT NULL CHECK (refunded_minor >= 0),
    capture_count  int NOT NULL CHECK (capture_count >= 0),
    refund_count   int NOT NULL CHECK (refund_count >= 0),
    PRIMARY KEY (settlement_id, currency)
);

-- One authorization and what was done with it. The amounts are running totals the database
-- keeps within their limits: refunded ≤ captured ≤ authorized, and the busy operation's
-- reserved amount fits too, so no code path can capture or refund beyond them.
CREATE TABLE payment (
    id                        uuid PRIMARY KEY,
    customer_id               text NOT NULL,
    payment_method_id         uuid NOT NULL REFERENCES payment_method (id),
    reference                 text NOT NULL DEFAULT '' CHECK (length(reference) <= 128),
    currency                  text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    authorized_minor          bigint NOT NULL CHECK (authorized_minor > 0),
    captured_minor            bigint NOT NULL DEFAULT 0,
    refunded_minor            bigint NOT NULL DEFAULT 0,
    status                    text NOT NULL CHECK (status IN ('authorized', 'partially_captured', 'captured',
                                  'partially_refunded', 'refunded', 'voided', 'failed', 'pending_reconciliation')),
    -- The status a pending payment returns to when its pending operation failed.
    resume_status             text,
    sub_status                text NOT NULL DEFAULT '' CHECK (length(sub_status) <= 64),
    decline_code              text NOT NULL DEFAULT '',
    failure_message           text NOT NULL DEFAULT '',
    processor                 text NOT NULL,
    processor_reference       text NOT NULL DEFAULT '',
    authorization_expire_time timestamptz,
    create_time               timestamptz NOT NULL,
    update_time               timestamptz NOT NULL,
    settle_time               timestamptz,
    version                   bigint NOT NULL CHECK (version > 0),
    -- The operation the processor is working on, or whose outcome is unknown: no other
    -- operation starts until it is resolved.
    busy_operation_id         uuid,
    busy_type                 text CHECK (busy_type IN ('authorize', 'capture', 'void', 'refund')),
    busy_minor                bigint NOT NULL DEFAULT 0 CHECK (busy_minor >= 0),
    busy_since                timestamptz,
    CONSTRAINT payment_captured_within_authorized CHECK (captured_minor >= 0 AND captured_minor <= authorized_minor),
    CONSTRAINT payment_refunded_within_captured CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor),
    CONSTRAINT payment_busy_within_limits CHECK (CASE busy_type
        WHEN 'capture' THEN captured_minor + busy_minor <= authorized_minor
        WHEN 'refund' THEN refunded_minor + busy_minor <= captured_minor
        ELSE true END),
    CONSTRAINT payment_busy_complete CHECK ((busy_operation_id IS NULL) = (busy_type IS NULL)
        AND (busy_operation_id IS NULL) = (busy_since IS NULL)),
    CONSTRAINT payment_pending_is_busy CHECK (status <> 'pending_reconciliation' OR busy_operation_id IS NOT NULL)
);
CREATE INDEX payment_customer_idx ON payment (customer_id, create_time DESC, id DESC);
CREATE INDEX payment_reference_idx ON payment (reference, create_time DESC, id DESC) WHERE reference <> '';
CREATE INDEX payment_time_idx ON payment (create_time DESC, id DESC);
CREATE INDEX payment_busy_idx ON payment (busy_since) WHERE busy_operation_id IS NOT NULL;
CREATE INDEX payment_expiry_idx ON payment (authorization_expire_time)
    WHERE status IN ('authorized', 'partially_captured');

-- Every call made to the processor for a payment, including failed and pending ones.
CREATE TABLE payment_operation (
    id                  uuid PRIMARY KEY,
    seq                 bigserial NOT NULL,
    payment_id          uuid NOT NULL REFERENCES payment (id),
    type                text NOT NULL CHECK (type IN ('authorize', 'capture', 'void', 'refund')),
    status              text NOT NULL CHECK (status IN ('in_progress', 'pending', 'succeeded', 'failed')),
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    request_id          text NOT NULL DEFAULT '',
    processor_reference text NOT NULL DEFAULT '',
    decline_code        text NOT NULL DEFAULT '',
    failure_message     text NOT NULL DEFAULT '',
    reason              text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    create_time         timestamptz NOT NULL,
    complete_time       timestamptz,
    settlement_id       uuid REFERENCES settlement (id),
    CHECK (settlement_id IS NULL OR (status = 'succeeded' AND type IN ('capture', 'refund'))),
    CHECK ((status IN ('succeeded', 'failed')) = (complete_time IS NOT NULL))
);
CREATE INDEX payment_operation_payment_idx ON payment_operation (payment_id, create_time, seq);
CREATE INDEX payment_operation_settlement_idx ON payment_operation (settlement_id) WHERE settlement_id IS NOT NULL;
CREATE INDEX payment_operation_unsettled_idx ON payment_operation (complete_time)
    WHERE settlement_id IS NULL AND status = 'succeeded' AND type IN ('capture', 'refund');

-- Idempotency keys, one per RPC method and key. The row is inserted first, in its own
-- transaction, as in_flight; the transaction that records the outcome stores the response
-- and marks it completed. Keys expire 24 hours after create_time.
CREATE TABLE idempotency_key (
    method           text NOT NULL,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    -- HMAC-SHA-256 of the request's parameters (card data is kept only this way).
    request_hash     bytea NOT NULL,
    state            text NOT NULL CHECK (state IN ('in_flight', 'completed')),
    -- The attempt holding an in-flight key, and when its lease started.
    lock_id          uuid NOT NULL,
    locked_at        timestamptz NOT NULL,
    create_time      timestamptz NOT NULL,
    -- The payment or payment method, and the operation, the first attempt chose.
    resource_id      text NOT NULL DEFAULT '',
    operation_id     text NOT NULL DEFAULT '',
    -- The marshalled first response (a google.protobuf.Any of the response or of a
    -- google.rpc.Status), replayed byte for byte.
    response         bytea,
    -- The response showed an unknown outcome: a retry reconciles and answers with the
    -- current state.
    response_pending boolean NOT NULL DEFAULT false,
    complete_time    timestamptz,
    PRIMARY KEY (method, key),
    CHECK ((state = 'completed') = (response IS NOT NULL))
);
CREATE INDEX idempotency_key_expiry_idx ON idempotency_key (create_time);
